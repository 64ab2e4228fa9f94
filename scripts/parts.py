"""What `scripts/rename.py --drop PART` removes: the manifest (PARTS) and the pruning it drives (stdlib only).

A part owns whole files (globs; {pkg} is the package) and is named by `words` (regexes). Dropping it deletes its
files, then prunes what mentions it elsewhere: top-level statements of tests/, examples/ and the package's
__init__.py files (and parametrize cases, list items, import names; a name a removed statement defined is pruned
in turn), README/docs lines (a code or table line, a list item, a paragraph, a section whose heading names it),
its pyproject dependency group and its `lines` (the COMMANDS entry, OPTIONAL_PACKAGES entries). Nothing is written
if the result would still import or configure something removed, or would leave no experiment config to train.
"""

import ast
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Part:
    about: str  # one line for --list
    files: tuple[str, ...]  # globs relative to the repository root, removed whole
    words: tuple[str, ...] = ()  # regexes (left word boundary added) for mentions of the part outside its files
    group: str | None = None  # its pyproject.toml dependency group
    lines: dict[str, str] = field(default_factory=dict)  # path -> regex: matching lines of that file go


SRC = "src/{pkg}"
MAIN, ERRORS = f"{SRC}/cli/main.py", f"{SRC}/errors.py"
# MNIST (configs/mnist_mlp.yaml, mnist_cnn.yaml) belongs to no part: README, docs, guides and the core's tests train
# it, so every drop leaves something to train.
FAMILIES = {
    "video": Part(
        "Moving MNIST frame prediction (SimVP, ConvLSTM, LSTM nets, FramePredictionTask, frame pictures) and the "
        "benchmarks/ that time it",
        files=(
            *(f"{SRC}/data/{m}.py" for m in ("moving_mnist", "moving_digits")),
            *(f"{SRC}/nets/{m}.py" for m in ("convlstm", "seq2img", "simvp")),
            *(f"{SRC}/tasks/{m}.py" for m in ("frame_prediction", "frame_losses")),
            *(f"{SRC}/callbacks/{m}.py" for m in ("frame_grid", "frame_writer", "horizon_error")),
            "configs/moving_mnist_*.yaml",
            "configs/gpu/*.yaml",
            "docs/video_prediction.md",
            "docs/benchmarks.md",
            "benchmarks/bench*.py",
            "benchmarks/frame_table.py",
            "tests/test_moving_mnist_*.py",
            "tests/test_video_prediction.py",
            "tests/test_bench.py",
        ),
        words=(
            r"moving_mnist",
            r"Moving ?MNIST",
            r"moving_digits",
            r"frame_",
            r"Frame[A-Z]",
            r"SimVP",
            r"simvp",
            r"ConvLSTM",
            r"convlstm",
            r"LSTMFrame",
            r"seq2img",
            r"[Hh]orizon",
            r"video",
            r"[Ss]equence to image",
            r"bench(?:_|\.py|marks)",
        ),
    ),
    "tabular": Part(
        "tables (TabularDataModule, CSV reading, the binary task, ROC/PR and scatter pictures)",
        files=(
            *(f"{SRC}/data/{m}.py" for m in ("tabular", "table_io")),
            f"{SRC}/tasks/binary_classification.py",  # not regression.py: a guide's example uses RegressionTask
            *(f"{SRC}/callbacks/{m}.py" for m in ("binary_curves", "regression_scatter")),
            "configs/tabular_*.yaml",
            "tests/test_tabular.py",
            "tests/reliability/test_data_csv.py",
        ),
        words=(r"tabular", r"Tabular", r"table_io", r"[Yy]our own CSV", r"--folds"),
    ),
    "images": Part(
        "images beyond MNIST: CIFAR-10, FashionMNIST, ImageFolder, the torchvision ResNet backbone and fine-tuning",
        files=(
            *(f"{SRC}/data/{m}.py" for m in ("cifar10", "image_folder")),
            f"{SRC}/nets/backbone.py",
            f"{SRC}/callbacks/finetuning.py",
            "configs/cifar10_*.yaml",
            "configs/fashion_mnist_*.yaml",
            "tests/test_images.py",
            "tests/test_finetuning.py",
        ),
        words=(
            r"[Cc]ifar",
            r"CIFAR",
            r"fashion",
            r"Fashion",
            r"image_folder",
            r"ImageFolder",
            r"[Rr]es[Nn]et-?18",
            r"[Bb]ackbone",
            r"[Ff]inetun",
            r"[Ff]ine-tun",
            r"[Tt]ransfer learning",
        ),
    ),
}
OPTIONAL = {
    "serve": Part(
        "`{pkg} serve`: a checkpoint behind LitServe (serving/, its tests, docs/serving.md, benchmarks/serve_*.py)",
        files=(
            f"{SRC}/serving/**",
            "tests/test_serving.py",
            "tests/serving.py",
            "docs/serving.md",
            "benchmarks/serve_load.py",
            "benchmarks/serve_handwritten.py",
        ),
        words=(
            r"{pkg} serve\b",
            r'"serve"',
            r"LitServe",
            r"litserve",
            r"serve_load",
            r"tests\.serving",
            r"[Ss]erve a model",
            r"serving/",
        ),
        group="serve",
        lines={
            MAIN: r'^\s+"serve":',
            ERRORS: r'^\s+"litserve":',
            f"{SRC}/cli/upstream_workarounds.py": r'^\s+(# serving/queues\.py|"_(init_manager|transport)":)',
        },
    ),
    "stream": Part(
        "`{pkg} stream` and StreamingDataModule: data as LitData streams (streaming/, its preset, tests, docs)",
        files=(
            f"{SRC}/streaming/**",
            "configs/presets/streaming.yaml",
            "tests/test_streaming.py",
            "benchmarks/bench_streaming.py",
            "docs/streaming.md",
        ),
        words=(r"{pkg} stream\b", r"LitData", r"litdata", r"presets/streaming", r"streaming/"),
        group="stream",
        lines={
            MAIN: r'^\s+"stream":',
            ERRORS: r'^\s+"litdata":',
            f"{SRC}/cli/upstream_workarounds.py": r'^\s+(# streaming/writer\.py|"_(signal_handler|instances|exit)":)',
        },
    ),
    "sweep": Part(
        "`{pkg} sweep`: Optuna hyperparameter search (sweeps/, SLURM sweep script, tests, docs/sweeps.md)",
        files=(
            f"{SRC}/sweeps/**",
            "tests/test_sweep.py",
            "tests/test_sweep_workers.py",
            "docs/sweeps.md",
            "scripts/slurm_sweep.sbatch",
        ),
        words=(
            r"{pkg} sweep\b",
            r"Optuna",
            r"optuna",
            r"slurm_sweep",
            r"sweeps/",
            r"logs/sweep",
            r"[Hh]yperparameter search",
        ),
        group="sweep",
        lines={MAIN: r'^\s+"sweep":', ERRORS: r'^\s+"optuna":'},
    ),
    "mlflow": Part(
        "MLflow logging (configs/presets/mlflow.yaml; the lazy MLflow branches in cli/loggers.py stay, inert)",
        files=("configs/presets/mlflow.yaml",),
        words=(r"mlflow", r"MLflow"),
        group="mlflow",
        lines={ERRORS: r'^\s+"mlflow":'},
    ),
    "export": Part(
        "`{pkg} export`: ONNX and torch.export files (export/, tests/test_export.py)",
        files=(f"{SRC}/export/**", "tests/test_export.py"),
        words=(r"{pkg} export\b", r"ONNX", r"onnx", r"export/"),
        group="export",
        lines={MAIN: r'^\s+"export":', ERRORS: r'^\s+"onnx\w*":'},
    ),
}
PARTS = FAMILIES | OPTIONAL
# A file several parts use goes only when all of them are dropped (serving answers binary tables; streaming writes
# ImageFolder data)
SHARED = {
    f"{SRC}/tasks/binary_classification.py": ("tabular", "serve"),
    f"{SRC}/data/image_folder.py": ("images", "stream"),
}
# Where mentions are pruned: Python statements, Markdown blocks
PRUNED_PYTHON = ("tests/", "examples/")
PRUNED_MARKDOWN = ("README.md", "docs/")


class DropError(Exception):
    """A drop the script refuses, with the reason."""


def parse_parts(spec: str) -> list[str]:
    """'video,serve' -> ['video', 'serve']; unknown or repeated names are refused."""
    names = [name.strip() for name in spec.split(",")]
    unknown = [name for name in names if name not in PARTS]
    if unknown:
        raise DropError(f"unknown part {', '.join(map(repr, unknown))}; choose from: {', '.join(PARTS)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DropError(f"part {', '.join(map(repr, repeated))} given twice")
    return names


def listing(pkg: str) -> str:
    lines = ["families (MNIST, configs/mnist_*.yaml, always stays: README, docs and the core's tests train it):"]
    lines += [f"  {name:<8} {part.about.format(pkg=pkg)}" for name, part in FAMILIES.items()]
    lines += ["optional parts (each also drops its pyproject dependency group and `uv lock`s):"]
    lines += [f"  {name:<8} {part.about.format(pkg=pkg)}" for name, part in OPTIONAL.items()]
    return "\n".join(lines)


def mentions(words: list[str]) -> re.Pattern[str]:
    """One regex for any word, with a left word boundary (so `tabular` also matches `tabular_mlp` and `_tabular`)."""
    return re.compile("|".join(f"(?<![A-Za-z0-9])(?:{word})" for word in words) or r"(?!)")


def owns(part: Part, relative: Path, pkg: str) -> bool:
    """Whether one of the part's globs names this file (`room/**`: everything under room/)."""
    globs = [pattern.format(pkg=pkg) for pattern in part.files]
    return any(relative.match(g) or g.endswith("/**") and relative.as_posix().startswith(g[:-2]) for g in globs)


def owned_files(root: Path, files: list[Path], dropped: list[str], pkg: str) -> set[Path]:
    """The project files the dropped parts own, shared files only when every part that uses them is dropped."""
    owned = {path for path in files if any(owns(PARTS[name], path.relative_to(root), pkg) for name in dropped)}
    kept = {root / path.format(pkg=pkg) for path, users in SHARED.items() if not set(users) <= set(dropped)}
    return owned - kept


def module_of(path: Path, root: Path) -> str | None:
    """src/pkg/data/tabular.py -> pkg.data.tabular; None outside src/."""
    relative = path.relative_to(root)
    if relative.parts[0] != "src" or path.suffix != ".py":
        return None
    parts = relative.with_suffix("").parts[1:]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def dotted(path: Path, root: Path) -> str:
    """tests/fake_datasets.py -> tests.fake_datasets, src/pkg/data/__init__.py -> pkg.data: how imports name it."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[1 if parts[0] == "src" else 0 : -1 if parts[-1] == "__init__" else None])


def class_names(text: str) -> list[str]:
    """Top-level classes of a removed module: configs, imports and tests name them."""
    return [node.name for node in ast.parse(text).body if isinstance(node, ast.ClassDef)]


# --- Python: prune top-level statements that mention a word -------------------------------------------------------


def bound_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement defines."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def element_cuts(elements: list[ast.expr], lines: list[str], hit: re.Pattern[str]) -> list[tuple[int, int]] | None:
    """Line ranges of the elements that mention a word, if each such element has its lines to itself; else None."""
    cuts = []
    for i, element in enumerate(elements):
        start, end = element.lineno, element.end_lineno or element.lineno
        if not hit.search("".join(lines[start - 1 : end])):
            continue
        neighbours = [e for j, e in enumerate(elements) if j != i]
        if any(start <= (e.end_lineno or e.lineno) and e.lineno <= end for e in neighbours):
            return None
        cuts.append((start, end))
    return cuts


def parametrize_cases(node: ast.stmt) -> list[ast.expr]:
    """The case list of a @pytest.mark.parametrize decorator, if the function has one."""
    for decorator in getattr(node, "decorator_list", []):
        is_parametrize = isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("parametrize")
        if is_parametrize and len(decorator.args) > 1 and isinstance(decorator.args[1], ast.List | ast.Tuple):
            return list(decorator.args[1].elts)
    return []


Cuts = list[tuple[int, int]]


def if_cuts(node: ast.stmt, lines: list[str], hit: re.Pattern[str]) -> Cuts | None:
    """A function whose mentions all sit in `if` statements testing for the part (`if "CIFAR10" in text:`) loses
    just those; None if a mention is elsewhere or nothing of its body would be left."""
    body = getattr(node, "body", []) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else []
    branches = [s for s in body if isinstance(s, ast.If) and hit.search(ast.unparse(s.test))]
    if not branches or len(branches) == len(body):
        return None
    cuts = [(s.lineno, s.end_lineno or s.lineno) for s in branches]
    return None if hit.search(node_text(node, lines, cuts)) else cuts


def node_text(node: ast.stmt, lines: list[str], cuts: Cuts | None = None) -> str:
    """A statement's source lines (decorators included), without the cut ones."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    numbers = range(start, (node.end_lineno or node.lineno) + 1)
    return "".join(lines[i - 1] for i in numbers if not any(a <= i <= b for a, b in cuts or []))


def statement_cuts(
    node: ast.stmt, lines: list[str], hit: re.Pattern[str], gone: frozenset[str]
) -> tuple[Cuts, str | None]:
    """What to cut of one top-level statement that mentions a word: line ranges (the whole statement unless a part
    of it suffices), and a replacement for an import that keeps some of its names."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    whole = [(start, node.end_lineno or node.lineno)]
    if isinstance(node, ast.ImportFrom) and not hit.search(node.module or ""):
        keep = [a for a in node.names if not hit.search(a.name) and f"{node.module}.{a.name}" not in gone]
        if keep and len(keep) < len(node.names):
            return whole, ast.unparse(ast.ImportFrom(module=node.module, names=keep, level=node.level))
        return whole, None
    cases = parametrize_cases(node)
    if cases:
        body = "".join(lines[node.lineno - 1 : node.end_lineno])
        cuts = element_cuts(cases, lines, hit)
        if not hit.search(body) and cuts is not None and len(cuts) < len(cases):
            return cuts, None
        return whole, None
    value = getattr(node, "value", None)
    if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(value, ast.List | ast.Tuple | ast.Set):
        cuts = element_cuts(list(value.elts), lines, hit)
        if cuts is not None and not any(hit.search(ast.unparse(t)) for t in getattr(node, "targets", [])):
            return cuts, None
    return if_cuts(node, lines, hit) or whole, None


def prune_python(text: str, words: list[str], gone: frozenset[str] = frozenset()) -> tuple[str, set[str]]:
    """Cut what mentions a word until nothing does: a name a cut statement defined becomes a word, and so does an
    imported name in `gone` (module.name, cut from another file). Returns the text and the names cut."""
    cut_names: set[str] = set()
    while True:
        hit = mentions(words + [rf"{re.escape(name)}\b" for name in sorted(cut_names)])
        lines = text.splitlines(keepends=True)
        edits: list[tuple[int, int, str | None]] = []
        for node in ast.parse(text).body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # a docstring breaks nothing, and says what the file is for
            imported = {f"{node.module}.{a.name}" for a in node.names} if isinstance(node, ast.ImportFrom) else set()
            if not hit.search(node_text(node, lines)) and not imported & gone:
                continue
            cuts, replacement = statement_cuts(node, lines, hit, gone)
            edits += [(a, b, replacement) for a, b in cuts]
            start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            if cuts == [(start, node.end_lineno)]:
                after = bound_names(ast.parse(replacement).body[0]) if replacement else set()
                cut_names |= bound_names(node) - after
        if not edits:
            return text, cut_names
        for a, b, replacement in sorted(edits, reverse=True):
            lines[a - 1 : b] = [replacement + "\n"] if replacement else []
        text = re.sub(r"\n{4,}", "\n\n\n", "".join(lines))


# --- Markdown: prune lines, list items, paragraphs and sections that mention a word --------------------------------


SHELL_FENCES = ("```\n", "```bash\n", "```sh\n", "```console\n", "```text\n")  # pruned line by line


def markdown_blocks(lines: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each unit: a heading, a fence line, a command or table line, a list item, a paragraph,
    and a whole code block (a Python or YAML listing, which a guide may show verbatim from examples/)."""
    blocks, i, in_fence = [], 0, False
    while i < len(lines):
        line = lines[i]
        if line.startswith("```") and not in_fence and line not in SHELL_FENCES:
            j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("```")), len(lines) - 1)
            blocks.append((i, j + 1, "listing"))
            i = j + 1
        elif line.startswith("```"):
            blocks.append((i, i + 1, "fence"))
            in_fence, i = not in_fence, i + 1
        elif in_fence or line.startswith("|") or not line.strip():
            blocks.append((i, i + 1, "code" if in_fence else "line"))
            i += 1
        elif line.startswith("#"):
            blocks.append((i, i + 1, "heading"))
            i += 1
        else:
            item = re.match(r"(\s*)(?:[-*]|\d+\.) ", line)
            j = i + 1
            while j < len(lines) and lines[j].strip() and not lines[j].startswith(("```", "#", "|")):
                if item and re.match(r"\s*(?:[-*]|\d+\.) ", lines[j]) or not item and re.match(r"[-*] ", lines[j]):
                    break
                j += 1
            blocks.append((i, j, "item" if item else "paragraph"))
            i = j
    return blocks


def keep_sentences(paragraph: str, hit: re.Pattern[str]) -> str:
    """The sentences that mention no word, wrapped at 115 columns; empty if none is left."""
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z`\[(])", " ".join(paragraph.split()))
    kept = " ".join(s for s in sentences if not hit.search(s))
    return textwrap.fill(kept, 115, break_long_words=False, break_on_hyphens=False) + "\n" if kept else ""


def heading_level(line: str) -> int:
    return len(line) - len(line.lstrip("#"))


def prune_markdown(text: str, hit: re.Pattern[str]) -> str:
    if not hit.search(text):
        return text
    lines = text.splitlines(keepends=True)
    drop: set[int] = set()
    blocks = markdown_blocks(lines)
    for n, (start, end, kind) in enumerate(blocks):
        if kind == "fence" or not hit.search("".join(lines[start:end])):
            continue
        if kind == "heading":  # the whole section, up to the next heading of its level or above
            level = heading_level(lines[start])
            later = [s for s, _, k in blocks[n + 1 :] if k == "heading" and heading_level(lines[s]) <= level]
            end = later[0] if later else len(lines)
        if kind == "paragraph":  # prose keeps its other sentences
            lines[start:end] = [""] * (end - start - 1) + [keep_sentences("".join(lines[start:end]), hit)]
            continue
        drop |= set(range(start, end))
    kept: list[str] = []
    in_fence = False
    for i, line in enumerate(lines):
        in_fence ^= line.startswith("```")
        blank_again = not line.strip() and not in_fence and (not kept or not kept[-1].strip())
        if i not in drop and line and not blank_again:  # a cut leaves one blank line, not two
            kept.append(line)
    return re.sub(r"```[^\n]*\n```\n\n?", "", "".join(kept))  # a command block left empty goes


# --- the drop as a whole -----------------------------------------------------------------------------------------


def prune_pyproject(text: str, groups: list[str]) -> str:
    for group in groups:
        text = re.sub(rf"(?m)^{group} = \[.*\]\n", "", text)
        text = re.sub(rf'"{group}", |, "{group}"', "", text)
    return text


def plan(root: Path, files: list[Path], dropped: list[str], pkg: str) -> dict[Path, str | None]:
    """New text per changed file (None: deleted). Raises DropError if the result would refer to something removed."""
    removed = owned_files(root, files, dropped, pkg)
    words = [word.format(pkg=pkg) for name in dropped for word in PARTS[name].words]
    modules = [m for m in (module_of(p, root) for p in removed) if m]
    classes = [c for p in removed if module_of(p, root) for c in class_names(p.read_text())]
    python_words = words + [rf"{re.escape(m)}\b" for m in modules] + [rf"{c}\b" for c in classes]
    python_words += [re.escape(p.relative_to(root).as_posix()) for p in removed]
    python_words += [rf"{re.escape(dotted(p, root))}\b" for p in removed if p.suffix == ".py"]  # tests.serving
    rooms = [p.parent.name for p in removed if p.name == "__init__.py" and module_of(p, root)]
    python_words += [rf"\.{room}\b|\"{room}\"" for room in rooms]  # `from ..sweeps import`, a room's name in a test
    changes: dict[Path, str | None] = {path: None for path in removed}
    # docs link each other relatively: [serving.md](serving.md)
    hit = mentions(python_words + [re.escape(p.name) for p in removed if p.suffix == ".md"])
    groups = [PARTS[name].group for name in dropped if PARTS[name].group]
    gone: frozenset[str] = frozenset()  # module.name cut from a Python file: imports of it elsewhere go too
    while True:
        cut: set[str] = set()
        for path in sorted(set(files) - removed):
            relative = path.relative_to(root).as_posix()
            text = path.read_text(errors="replace")
            new = text
            for rule in (r for name in dropped for t, r in PARTS[name].lines.items() if t.format(pkg=pkg) == relative):
                new = "".join(line for line in new.splitlines(keepends=True) if not re.match(rule, line))
            if path.suffix == ".py" and (relative.startswith(PRUNED_PYTHON) or path.name == "__init__.py"):
                new, names = prune_python(new, python_words, gone)
                cut |= {f"{dotted(path, root)}.{name}" for name in names}
            elif path.suffix == ".md" and relative.startswith(PRUNED_MARKDOWN):
                new = prune_markdown(new, hit)
            elif relative == "pyproject.toml":
                new = prune_pyproject(new, [g for g in groups if g])
            if new != text:
                changes[path] = new
        if cut <= gone:
            break
        gone |= cut
    check_nothing_dangles(root, files, changes, modules + classes, pkg)
    return changes


def imports(text: str) -> str:
    """A module's import statements, one a line (what it needs to exist)."""
    nodes = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Import | ast.ImportFrom)]
    return "\n".join(ast.unparse(node) for node in nodes)


def check_nothing_dangles(
    root: Path, files: list[Path], changes: dict[Path, str | None], gone: list[str], pkg: str
) -> None:
    """Refuse a drop whose kept code imports, or whose configs name, a removed module or class."""
    hit = re.compile("|".join(rf"\b{re.escape(name)}\b" for name in gone) or r"(?!)")
    for path in (p for p in files if p.suffix in (".py", ".yaml")):
        text = changes[path] if path in changes else path.read_text(errors="replace")
        if text is None:
            continue
        found = hit.search(imports(text) if path.suffix == ".py" else re.sub(r"#.*", "", text))
        if found:
            relative = path.relative_to(root).as_posix()
            owners = [name for name, part in PARTS.items() if owns(part, path.relative_to(root), pkg)]
            also = f"drop {' or '.join(owners)} too" if owners else "keep what it uses"
            raise DropError(f"{relative} would still use {found.group()}, which goes; {also}")
    configs = [p for p in files if p.parent == root / "configs" and p.suffix == ".yaml" and p.name != "defaults.yaml"]
    if all(changes.get(p, "") is None for p in configs):
        raise DropError("that drop leaves no experiment config in configs/: nothing would be left to train")
