"""Lightning calls every hook of every callback, no-ops included; call only the hooks a callback overrides.

Lightning pays a profiler context and a `state_key` string (ModelCheckpoint builds a repr of its options) for each
callback it calls, whether or not the hook does anything. mnist_mlp's ten callbacks get 60 such calls per training
step, 54 of them to `Callback`'s empty methods: ~0.1 ms a step, 3-4% of the MLP's epoch.

Installed process-wide by `blueprint`'s CLI (a Trainer created later in the same process gets it too); workers that
`ddp_spawn` starts import a fresh Lightning and use its own dispatch, which behaves the same, only slower.
"""

import logging
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, Checkpoint, EarlyStopping
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.trainer import call

lightning_dispatch = call._call_callback_hooks
_EMPTY_HOOKS = {name: value for name, value in vars(Callback).items() if callable(value)}  # as Lightning ships them
_MISSING = object()


def skip_noop_callback_hooks() -> bool:
    """Route Lightning's callback hook calls through `call_overridden_hooks`; True when installed by this call."""
    if call._call_callback_hooks is not lightning_dispatch:
        return False
    call._call_callback_hooks = call_overridden_hooks
    return True


def runs_hook(callback: Any, hook_name: str) -> bool:
    """False only when the hook is `Callback`'s own empty method: not overridden, patched or set on the instance.

    Checked on every call, not cached: a class may be patched (e.g. `mock.patch.object`) between two runs.
    """
    if hook_name in getattr(callback, "__dict__", ()):
        return True
    return getattr(type(callback), hook_name, None) is not _EMPTY_HOOKS.get(hook_name, _MISSING)


def call_overridden_hooks(
    trainer: Trainer, hook_name: str, *args: Any, monitoring_callbacks: bool | None = None, **kwargs: Any
) -> None:
    """Lightning's `_call_callback_hooks` minus the callbacks whose hook is `Callback`'s no-op.

    Under a profiler Lightning's own dispatch runs unchanged, so the profile shows every hook as Lightning reports it.
    """
    if type(trainer.profiler) is not PassThroughProfiler:  # type: ignore[attr-defined]  # set in Trainer.__init__
        lightning_dispatch(trainer, hook_name, *args, monitoring_callbacks=monitoring_callbacks, **kwargs)
        return
    if call.log.isEnabledFor(logging.DEBUG):
        call.log.debug(f"{trainer.__class__.__name__}: calling callback hook: {hook_name}")
    callbacks = [cb for cb in trainer.callbacks if runs_hook(cb, hook_name)]  # type: ignore[attr-defined]
    if monitoring_callbacks is not None:  # Lightning runs EarlyStopping and checkpoints apart from the others
        callbacks = [cb for cb in callbacks if isinstance(cb, EarlyStopping | Checkpoint) == monitoring_callbacks]
    if not callbacks:
        return
    pl_module = trainer.lightning_module
    if pl_module:
        previous_fx_name = pl_module._current_fx_name
        pl_module._current_fx_name = hook_name
    for callback in callbacks:
        fn = getattr(callback, hook_name)
        if callable(fn):
            fn(trainer, trainer.lightning_module, *args, **kwargs)
    if pl_module:
        pl_module._current_fx_name = previous_fx_name
