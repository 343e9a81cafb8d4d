"""One import name: the package installs as ``convscope`` only (``convscope.core``,
``convscope.gui``, ``convscope.assets``), never as the generic top-level ``core``, ``gui`` or
``assets`` that any other package could also be called."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setuptools():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_installs_under_convscope():
    config = _setuptools()
    assert config["package-dir"] == {"convscope": "."}
    assert all(name == "convscope" or name.startswith("convscope.")
               for name in config["packages"])
    assert all(key.startswith("convscope") for key in config["package-data"])


def test_every_source_folder_is_listed():
    """A new subpackage (a folder with __init__.py) that the list forgot would be missing
    from an installed copy while the tests here still pass."""
    folders = {"convscope." + ".".join(p.parent.relative_to(ROOT).parts)
               for top in ("core", "gui") for p in (ROOT / top).rglob("__init__.py")}
    assert folders <= set(_setuptools()["packages"])
    assert (ROOT / "__init__.py").is_file()


def test_the_api_and_the_command_live_under_convscope():
    import convscope
    from convscope import Network
    from convscope.core import Network as CoreNetwork

    assert Network is CoreNetwork
    assert Path(convscope.__file__).resolve() == ROOT / "__init__.py"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"convscope": "convscope.gui.cli:main"}
