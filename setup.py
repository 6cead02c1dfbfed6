"""Build hook: the wheel carries the compiled translations.

The .mo files are built from the .po catalogs and not kept in git, so a wheel built from a
clean checkout would have none (and every message would fall back to English); this compiles
them into the build directory, leaving the checkout untouched.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):  # type: ignore[misc]
    """build_py, then each locales/<lang>/LC_MESSAGES/messages.po as a .mo beside it."""

    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po_file in sorted(Path("locales").glob("*/LC_MESSAGES/messages.po")):
            with po_file.open("rb") as source:
                catalog = read_po(source, locale=po_file.parts[1])
            target = Path(self.build_lib) / po_file.with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as output:
                write_mo(output, catalog)  # fuzzy entries left out, as `pybabel compile` does


setup(cmdclass={"build_py": BuildWithCatalogs})
