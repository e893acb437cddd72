"""Writes tests/fixtures/reference/original_cli.json from the original code: the main.py
argument lines of its SAMPLE_RUNS.sh (split into arguments) and every option its argparse
declares (main.py and PADS_utilities.include_pads_args: name, and the values a test can pass:
the default for a typed option, none for a store_true). tests/original_cli.rs reads it, so
the tests run where the reference code is not (CI).

    python bench/reference/make_cli_fixture.py --original ../shared/reference/CVPR2020_PADS
"""
import argparse
import json
import pathlib


def sample_lines(ref):
    out = []
    for line in (ref / "SAMPLE_RUNS.sh").read_text().splitlines():
        if "main.py" in line:
            out.append(line.split("main.py", 1)[1].split())
    return out


def options(ref):
    out = []
    for name in ["main.py", "PADS_utilities.py"]:
        for line in (ref / name).read_text().splitlines():
            line = line.strip()
            if not line.startswith("parser.add_argument('--"):
                continue
            opt = line.split("'")[1][2:]
            if "store_true" in line:
                values = []
            else:
                default = line.split("default=", 1)[1].lstrip() if "default=" in line else ""
                if default.startswith("["):
                    values = [v.strip().strip("'") for v in default[1:].split("]")[0].split(",")]
                elif default.startswith("os.getcwd()"):
                    values = ["/tmp"]
                else:
                    values = [default.split(",")[0].strip().strip("'")]
            out.append({"name": opt, "values": values, "file": name})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--original", required=True, type=pathlib.Path)
    ap.add_argument("--out", default=pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/reference/original_cli.json", type=pathlib.Path)
    a = ap.parse_args()
    data = {"sample_runs": sample_lines(a.original), "options": options(a.original)}
    a.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {a.out}: {len(data['sample_runs'])} sample lines, {len(data['options'])} options")


if __name__ == "__main__":
    main()
