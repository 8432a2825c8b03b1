"""Content-hashed static files: names, rewritten module imports, replacements, gzip."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from docent.api.assets import StaticAssets


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_names_carry_the_content_hash_and_imports_follow(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        {
            "app.js": 'import { a } from "./a.js";\nconst later = () => import("./b.js");\n',
            "a.js": "export const a = 1;\n",
            "b.js": "export const b = 2;\n",
            "app.css": "body { color: red; }\n",
        },
    )
    assets = StaticAssets({"": folder})
    app_url = assets.url("app.js")
    assert re.fullmatch(r"/static/app\.[0-9a-f]{10}\.js", app_url)
    body = assets.get(app_url.removeprefix("/static/"))
    assert body is not None and body.immutable
    text = body.body.decode()
    assert f'from "./{assets.url("a.js").removeprefix("/static/")}"' in text
    assert f'import("./{assets.url("b.js").removeprefix("/static/")}")' in text
    plain = assets.get("app.js")
    assert plain is not None and not plain.immutable and plain.etag == body.etag

    (folder / "a.js").write_text("export const a = 2;\n")
    changed = StaticAssets({"": folder})
    assert changed.url("a.js") != assets.url("a.js")
    assert changed.url("app.js") != app_url, "a module is renamed when one it imports changes"
    assert changed.url("b.js") == assets.url("b.js")
    assert changed.url("app.css") == assets.url("app.css")


def test_an_import_cycle_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path, {"a.js": 'import "./b.js";\n', "b.js": 'import "./a.js";\n'})
    with pytest.raises(ValueError, match="import cycle"):
        StaticAssets({"": folder})


def test_extra_files_are_served_and_replacements_applied(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor.js"
    vendor.write_text('img.src = "https://cdn.example/logo.svg"; import("./not-ours.js");')
    ours = tmp_path / "ours"
    ours.mkdir()
    assets = StaticAssets(
        {"": ours},
        {"lib/vendor.js": vendor},
        {"lib/vendor.js": [(b"https://cdn.example/logo.svg", b"/static/favicon.svg")]},
    )
    served = assets.get(assets.url("lib/vendor.js").removeprefix("/static/"))
    assert served is not None
    assert b"cdn.example" not in served.body and b"/static/favicon.svg" in served.body
    assert b'import("./not-ours.js")' in served.body, "only our own modules are rewritten"
    with pytest.raises(ValueError, match="no longer holds"):
        StaticAssets({}, {"lib/vendor.js": vendor}, {"lib/vendor.js": [(b"absent", b"x")]})


def test_text_is_gzipped_on_first_use(tmp_path: Path) -> None:
    assets = StaticAssets({"": _write(tmp_path, {"app.css": "body { margin: 0; }\n" * 50})})
    css = assets.get("app.css")
    assert css is not None
    packed = css.gzipped()
    assert packed is not None and gzip.decompress(packed) == css.body and len(packed) < len(css.body)
    assert css.gzipped() is packed
    assert css.content_type == "text/css; charset=utf-8"
