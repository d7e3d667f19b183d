#!/usr/bin/env python3
"""Regenerate the wrapper input tables in README.md from the wrapper manifests.

Each table sits between `<!-- BEGIN GENERATED: NAME -->` and `<!-- END GENERATED: NAME -->`, in
README.md or in docs/WRAPPERS.md; each must appear exactly once across them.
With --check, nothing is written and the exit status is 1 when a table is stale, so tests can
catch a manifest edited without its documentation.
"""

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", REPO / "docs" / "WRAPPERS.md"]
ENV_PREFIX = "INLINE_SCAN_INPUT_"
# Inputs that name a secret variable instead of setting an option, and what they feed.
SECRET_VARIABLE_INPUTS = {
    "password_variable": "ANCHORE_CLI_PASS (environment)",
    "registry_password_variable": "`--registry-password-stdin` (standard input)",
}


def cell(text):
    """Make text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def option_for(env_name):
    """Map an INLINE_SCAN_INPUT_* variable to the `inline-scan analyze` option it sets."""
    if not env_name.startswith(ENV_PREFIX):
        return None
    name = env_name[len(ENV_PREFIX):].lower().replace("_", "-")
    if name == "image":
        return "IMAGE (argument)"
    if name == "bundle":
        return "BUNDLE (argument of `inline-scan import`)"
    return f"`--{name}`"


def default_text(value):
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def table(rows):
    lines = ["| input | sets | default | description |", "| --- | --- | --- | --- |"]
    for name, option, default, description in rows:
        lines.append(
            f"| `{name}` | {option or 'wrapper only'} | {default} | {cell(description)} |"
        )
    return "\n".join(lines)


def github_rows():
    action = yaml.safe_load((REPO / "action.yml").read_text())
    env = {}
    for step in action["runs"]["steps"]:
        for variable, value in (step.get("env") or {}).items():
            env[str(value).strip()] = variable
    rows = []
    for name, spec in action["inputs"].items():
        variable = env.get(f"${{{{ inputs.{name} }}}}")
        option = option_for(variable) if variable else None
        rows.append((name, option, default_text(spec.get("default")), spec["description"]))
    return rows


def gitlab_rows():
    documents = list(yaml.safe_load_all((REPO / "gitlab" / "templates" / "inline-scan.yml").read_text()))
    inputs = documents[0]["spec"]["inputs"]
    job = next(iter(documents[1].values()))
    env = {str(value): variable for variable, value in job["variables"].items()}
    rows = []
    for name, spec in inputs.items():
        variable = env.get(f"$[[ inputs.{name} ]]")
        option = (option_for(variable) if variable else None) or SECRET_VARIABLE_INPUTS.get(name)
        default = default_text(spec.get("default")) if "default" in spec else "mandatory"
        rows.append((name, option, default, spec["description"]))
    return rows


def circleci_rows(kind):
    manifest = yaml.safe_load(
        (REPO / "circleci-orb" / "src" / f"{kind}s" / "analyze.yml").read_text()
    )
    command = yaml.safe_load((REPO / "circleci-orb" / "src" / "commands" / "analyze.yml").read_text())
    env = {}
    for step in command["steps"]:
        run = step.get("run") if isinstance(step, dict) else None
        if isinstance(run, dict):
            for variable, value in (run.get("environment") or {}).items():
                env[str(value)] = variable
    rows = []
    for name, spec in manifest["parameters"].items():
        variable = env.get(f"<< parameters.{name} >>")
        option = option_for(variable) if variable else None
        option = SECRET_VARIABLE_INPUTS.get(name, option)
        default = default_text(spec.get("default")) if "default" in spec else "required"
        description = f"{spec['type']}: {spec['description']}"
        rows.append((name, option, default, description))
    return rows


def render_tables():
    return {
        "github-inputs": table(github_rows()),
        "gitlab-inputs": table(gitlab_rows()),
        "circleci-command-parameters": table(circleci_rows("command")),
        "circleci-job-parameters": table(circleci_rows("job")),
    }


def replace_blocks(text, tables):
    """Fill every block of `tables` found in `text`; return the new text and the names filled."""
    filled = set()
    for name, body in tables.items():
        begin = f"<!-- BEGIN GENERATED: {name} -->"
        end = f"<!-- END GENERATED: {name} -->"
        start = text.find(begin)
        if start < 0:
            continue
        stop = text.find(end, start)
        if stop < 0 or text.find(begin, start + len(begin)) >= 0:
            raise SystemExit(f"error: {begin} must appear once and be followed by {end}")
        text = text[: start + len(begin)] + "\n" + body + "\n" + text[stop:]
        filled.add(name)
    return text, filled


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a table is stale; write nothing")
    arguments = parser.parse_args()
    tables = render_tables()
    seen = []
    stale = []
    for doc in DOCS:
        current = doc.read_text()
        updated, filled = replace_blocks(current, tables)
        seen.extend(filled)
        if updated != current:
            stale.append(doc)
            if not arguments.check:
                doc.write_text(updated)
    for name in tables:
        if seen.count(name) != 1:
            where = " and ".join(str(doc.relative_to(REPO)) for doc in DOCS)
            raise SystemExit(f"error: the {name} table must have one generated block in {where}, not {seen.count(name)}")
    if arguments.check and stale:
        names = ", ".join(str(doc.relative_to(REPO)) for doc in stale)
        print(f"error: the tables in {names} are stale; run scripts/gen-wrapper-docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
