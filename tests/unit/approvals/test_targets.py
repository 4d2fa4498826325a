"""Webhook targets: only public addresses, unless the operator allows private ones."""

import pytest

from services.approvals.targets import TargetRefused, check_target


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9999/hook", "http://localhost/hook", "https://10.1.2.3/hook", "http://169.254.169.254/latest",
     "http://[::1]/hook", "https://192.168.0.10/hook"],
)  # fmt: skip
async def test_private_and_reserved_targets_are_refused(url):
    with pytest.raises(TargetRefused, match="private or reserved"):
        await check_target(url, allow_private=False)


async def test_a_public_address_is_accepted_and_private_ones_when_allowed():
    await check_target("https://93.184.216.34/hooks/gmphub", allow_private=False)
    await check_target("http://127.0.0.1:9999/hook", allow_private=True)


async def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(TargetRefused, match="does not resolve"):
        await check_target("https://no-such-host.invalid/hook", allow_private=False)
