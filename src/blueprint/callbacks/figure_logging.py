"""Send pictures to every logger that shows them: TensorBoard's IMAGES tab, MLflow's artifacts.

Sized for TensorBoard's image card, where a picture is first seen: the card (at least 335 px wide, 320 px tall)
scales each image down to fit a box about 215 px tall and 300-400 px wide. A figure of CARD_INCHES keeps its
10-point text about 10 px tall there; a bigger figure would only shrink it.
"""

from functools import cache
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger
from PIL import Image, ImageDraw, ImageFont

CARD_INCHES = (4.0, 2.7)  # the card's box is 1.4-1.8 times as wide as tall
DPI = 100  # 400 x 270 px: about the card's pixels on a 2x screen, and cheaper than the 360 x 360 drawn before


def new_figure() -> tuple[Any, Any]:
    """A card-sized matplotlib Figure with one Axes, on its own Agg canvas: (figure, axes).

    No pyplot: nothing global to close (a forgotten figure cannot pile up over a long run) and no display needed.
    Constrained layout keeps titles and tick labels inside the picture.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=CARD_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def text_tile(width: int, height: int, text: str, size: int, dark: bool = False) -> torch.Tensor:
    """(3, height, width) in [0, 1]: `text` (lines split by newlines) in PIL's font at `size` px, black on white or
    white on black, centred in height; captions and labels in pixel grids (a few ms, where matplotlib takes 0.3 s)."""
    tile = Image.new("RGB", (width, height), "black" if dark else "white")
    draw = ImageDraw.Draw(tile)
    top, bottom = draw.multiline_textbbox((0, 0), text, font=font(size), spacing=2)[1::2]
    at = (4, (height - bottom - top) // 2)
    draw.multiline_text(at, text, fill="white" if dark else "black", font=font(size), spacing=2)
    return torch.from_numpy(np.array(tile)).permute(2, 0, 1).float() / 255


def text_width(text: str, size: int) -> float:
    """Pixels the longest line of `text` takes in `font(size)`."""
    return max(font(size).getlength(line) for line in text.splitlines())


@cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """PIL's built-in font at `size` px, loaded once per size (loading it per tile was a third of a grid's cost)."""
    return ImageFont.load_default(size=size)


def picture_pixels(picture: Any) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a matplotlib Figure (rendered here), of such an array, or of a (3, H, W) tensor in
    [0, 1]."""
    if isinstance(picture, np.ndarray):
        return picture
    if isinstance(picture, torch.Tensor):
        return picture.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    picture.canvas.draw()
    return np.asarray(picture.canvas.buffer_rgba())[..., :3].copy()


def log_picture(trainer: L.Trainer, tag: str, picture: Any) -> None:
    """TensorBoard gets image `tag` at the current step, MLflow `figures/<tag>_step<N>.png`; rendered once for both."""
    pixels = picture_pixels(picture)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, pixels, global_step=trainer.global_step, dataformats="HWC")
        elif isinstance(logger, MLFlowLogger) and logger.run_id is not None:
            name = f"figures/{tag.replace('/', '_')}_step{trainer.global_step:06d}.png"
            logger.experiment.log_image(logger.run_id, pixels, artifact_file=name)
