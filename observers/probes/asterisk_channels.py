"""`asterisk-channels`: active channel count from CoreShowChannels, against count limits."""
from __future__ import annotations

from ._ami import AmiClient, AmiError, connect, list_count
from ._common import ProbeContext, ProbeResult, classify, failed, fmt_count, with_timeout


async def _count(client: AmiClient) -> int:
    action_id = await client.send("CoreShowChannels")
    answer = await client.reply(action_id)
    if answer.get("response", "").lower() != "success":
        raise AmiError(f"CoreShowChannels refused: {answer.get('message', 'no reason given')}")
    counted = 0
    while True:
        message = await client.read_message()
        if message.get("actionid", action_id) != action_id:
            continue
        event = message.get("event", "")
        if event == "CoreShowChannel":
            counted += 1
        elif event == "CoreShowChannelsComplete":
            return list_count(message, counted)


@with_timeout(lambda check: f"AMI at {check.host}:{check.port} did not list channels")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    try:
        client = await connect(check)
    except (AmiError, OSError) as exc:
        return failed(str(exc))
    try:
        channels = await _count(client)
    except (AmiError, OSError) as exc:
        return failed(f"AMI CoreShowChannels failed: {exc}")
    finally:
        await client.close()
    return classify(channels, check.limits(), "Channels", fmt_count)
