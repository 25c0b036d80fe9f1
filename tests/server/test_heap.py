"""A serving process freezes what startup built, so full collections walk only the calls."""

import gc

from getpatter.testing.sandbox import Sandbox


async def test_serving_freezes_startup_objects_and_stopping_thaws_them():
    gc.unfreeze()
    async with Sandbox() as sandbox:
        assert gc.get_freeze_count() == 0
        await sandbox.serve(sandbox.phone.agent("You are the receptionist."))
        frozen = gc.get_freeze_count()
        tracked = len(gc.get_objects())
    assert frozen > tracked  # startup's objects outnumber what a full pass still walks
    assert gc.get_freeze_count() == 0


async def test_a_host_that_froze_objects_itself_keeps_its_freeze():
    gc.unfreeze()
    gc.freeze()  # the host's own, e.g. a pre-fork server
    try:
        async with Sandbox() as sandbox:
            await sandbox.serve(sandbox.phone.agent("You are the receptionist."))
            frozen = gc.get_freeze_count()
        assert gc.get_freeze_count() == frozen > 0  # not thawed behind the host's back
    finally:
        gc.unfreeze()
