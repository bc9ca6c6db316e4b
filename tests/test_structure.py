"""The layout's promises: the HTTP side lives in workbench/web/, and reading the feed needs no Flask."""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "workbench"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_web_package_imports_flask_or_werkzeug():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if "web" not in p.relative_to(PACKAGE).parts[:1]
                 and imported_modules(p) & {"flask", "werkzeug"}]
    assert offenders == [], f"outside workbench/web/: {offenders}"


def test_importing_the_feed_does_not_import_flask():
    code = "import sys, workbench.feed; print(sorted(m for m in ('flask', 'werkzeug') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
