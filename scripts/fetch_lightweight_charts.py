"""Fetch the live page's chart library, TradingView Lightweight Charts, at its pinned release.

The live page (``tracker/web/static``) draws its chart with Lightweight Charts
(Apache-2.0, https://www.tradingview.com/lightweight-charts/), shipped inside the package
so the page loads nothing from other hosts. This script downloads the pinned release's
npm tarball, checks its sha256 against the pinned digest (the npm registry's sha512
``integrity`` of the same tarball is checked too) and the sha256 of each file it takes
from it (``FILE_SHA256``: the tests check the shipped files against these, offline), and
writes the files the page ships into ``tracker/web/static/vendor/``:

- ``lightweight-charts.standalone.production.js`` (the build that needs no module loader);
- ``LICENSE`` (the release has no NOTICE file; its attribution notice is the banner at the
  top of the script, which the page repeats in its footer with a link to TradingView).

Usage::

    python scripts/fetch_lightweight_charts.py           # (re)write the vendored files
    python scripts/fetch_lightweight_charts.py --check   # exit 1 unless they equal the release's

To move to another release, change ``VERSION``, ``SHA256`` (the digest of the new
tarball, e.g. ``curl -sL URL | sha256sum``), ``SHA512`` and ``FILE_SHA256`` (``sha256sum``
of the files in the new tarball), run the script, and check the page.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "5.3.0"
TARBALL = f"https://registry.npmjs.org/lightweight-charts/-/lightweight-charts-{VERSION}.tgz"
SHA256 = "7d9e9ab2b1a91db18a916fd5d5e17d7dd19a7dc7da022fd0d23f06bdd92ecc2a"
# the registry's own integrity of the same tarball (``npm view lightweight-charts@5.3.0 dist``)
SHA512 = "w16fu2/FteUkIJdgc9G2tOCKs1fwFSqnqF8+kMgHGv0uGIfcfpEJhziSaQbML1yrkbeg4nQXV3msjmhBzhLNhw=="
VENDOR = Path(__file__).resolve().parent.parent / "tracker" / "web" / "static" / "vendor"
# the tarball's member -> the shipped file's name
FILES = {
    "package/dist/lightweight-charts.standalone.production.js": (
        "lightweight-charts.standalone.production.js"
    ),
    "package/LICENSE": "LICENSE",
}
# the shipped file's name -> the sha256 of its bytes in the pinned tarball
FILE_SHA256 = {
    "lightweight-charts.standalone.production.js": (
        "338a625ece52c5b85fb026e222dad5d0f365f745060afbfae96bda91636142e9"
    ),
    "LICENSE": "70c9d5382506dd184465425c08a99ad9bd6d9ac1313c252968ba0b585e5ef823",
}


class FetchError(Exception):
    """The release could not be fetched, or is not the pinned one."""


def download(url: str = TARBALL, timeout: float = 60.0) -> bytes:
    """The tarball's bytes."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data: bytes = response.read()
    except OSError as exc:
        raise FetchError(f"{url}: {exc}") from None
    return data


def verified(tarball: bytes) -> bytes:
    """The tarball, once its sha256 and sha512 are the pinned ones."""
    sha256 = hashlib.sha256(tarball).hexdigest()
    if sha256 != SHA256:
        raise FetchError(f"{TARBALL}: sha256 {sha256}, expected {SHA256}; not the pinned release")
    sha512 = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if sha512 != SHA512:
        raise FetchError(f"{TARBALL}: sha512 {sha512}, expected {SHA512}")
    return tarball


def release_files(tarball: bytes) -> dict[str, bytes]:
    """The shipped files' contents by their names, read from the verified tarball."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member, name in FILES.items():
            extracted = archive.extractfile(member)
            if extracted is None:
                raise FetchError(f"{TARBALL}: no file {member}")
            files[name] = extracted.read()
            digest = hashlib.sha256(files[name]).hexdigest()
            if digest != FILE_SHA256[name]:
                raise FetchError(
                    f"{TARBALL}: {member} has sha256 {digest}, expected {FILE_SHA256[name]}"
                )
    banner = files["lightweight-charts.standalone.production.js"][:200].decode("ascii", "replace")
    if f"v{VERSION}" not in banner:
        raise FetchError(f"{TARBALL}: the script's banner does not name v{VERSION}")
    return files


def write(files: dict[str, bytes], folder: Path = VENDOR) -> None:
    """Write the files into the vendor folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def differences(files: dict[str, bytes], folder: Path = VENDOR) -> list[str]:
    """How the shipped files differ from the release's (nothing when they are equal)."""
    problems = []
    for name, data in files.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != data:
            problems.append(f"{path}: differs from lightweight-charts {VERSION}'s {name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Fetch and write the files, or with ``--check`` compare them; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="compare the shipped files with the release's"
    )
    parser.add_argument("--out", type=Path, default=VENDOR, help=f"folder (default: {VENDOR})")
    args = parser.parse_args(argv)
    try:
        files = release_files(verified(download()))
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        problems = differences(files, args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"{args.out}: lightweight-charts {VERSION}, as released")
        return 1 if problems else 0
    write(files, args.out)
    print(f"{args.out}: wrote lightweight-charts {VERSION} ({', '.join(files)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
