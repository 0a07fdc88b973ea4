"""The fault suite: real agents and etcd across network namespaces, judged by an independent checker (docs/testing.md)."""
