"""What TensorBoard's HPARAMS tab compares: the options that change results, read from the resolved config."""

from typing import Any

# Trainer options that change what a run learns; the others (devices, logger, progress bar) do not
RESULT_TRAINER_OPTIONS = (
    "max_epochs",
    "max_steps",
    "max_time",
    "precision",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "accumulate_grad_batches",
)


def readable(value: Any) -> Any:
    """A config node as plain nested data: `{class_path, init_args}` becomes `{class: ShortName, **init_args}`."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        if "class_path" in value:
            init_args = value.get("init_args") or {}
            return {"class": str(value["class_path"]).rsplit(".", 1)[-1], **readable(dict(init_args))}
        return {key: readable(item) for key, item in value.items() if not str(key).startswith("_")}
    if isinstance(value, list | tuple):
        return str([readable(item) for item in value])
    return value


def comparable_hparams(config: Any) -> dict[str, Any]:
    """model, data, the result-changing trainer options and the seed of one subcommand's config."""
    trainer = config.get("trainer") or {}
    return {
        "model": readable(config.get("model")),
        "data": readable(config.get("data")),
        "trainer": {key: trainer.get(key) for key in RESULT_TRAINER_OPTIONS},
        "seed": config.get("seed_everything"),
    }
