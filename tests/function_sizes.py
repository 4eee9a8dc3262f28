"""The functions `sam build` wrote: each is an arm64 Linux `bootstrap`, zipped as `sam deploy`
zips it (deflate); prints the sizes and fails if a zip is over its budget.

    function_sizes.py BUILD_DIR      (BUILD_DIR: sam build's output, e.g. infra/.aws-sam/build)

Run by tests/run after `sam build`."""

import io
import sys
import zipfile
from pathlib import Path

MB = 1_000_000
# Zip budgets: the authorizer's is this project's cold-start budget (an arm64 authorizer
# bootstrap of about 7 MB zips to about 3 MB); key-sync runs every 15 minutes, off the request path.
BUDGETS = {"AuthorizerFunction": 6 * MB, "KeySyncFunction": 10 * MB}
ELF_MACHINE_AARCH64 = 0xB7


def is_arm64_elf(data):
    """An ELF64 little-endian executable for aarch64 (e_machine at offset 18)."""
    return data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1 \
        and int.from_bytes(data[18:20], "little") == ELF_MACHINE_AARCH64


def zipped_size(bootstrap):
    """Bytes of a zip holding `bootstrap` as an executable file named bootstrap."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        entry = zipfile.ZipInfo("bootstrap")
        entry.external_attr = 0o755 << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(entry, bootstrap.read_bytes())
    return len(buffer.getvalue())


def main(build_dir):
    failed = 0
    for function, budget in BUDGETS.items():
        bootstrap = build_dir / function / "bootstrap"
        if not bootstrap.is_file():
            print(f"FAIL {function}: no {bootstrap}")
            failed += 1
            continue
        if not is_arm64_elf(bootstrap.read_bytes()[:20]):
            print(f"FAIL {function}: {bootstrap} is not an arm64 Linux executable")
            failed += 1
            continue
        size, zipped = bootstrap.stat().st_size, zipped_size(bootstrap)
        within = zipped < budget
        print(f"{'ok  ' if within else 'FAIL'} {function}: bootstrap {size / MB:.2f} MB, "
              f"zipped {zipped / MB:.2f} MB ({zipped} bytes; budget {budget / MB:.0f} MB)")
        failed += not within
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: function_sizes.py BUILD_DIR")
    sys.exit(main(Path(sys.argv[1])))
