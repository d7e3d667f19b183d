#!/usr/bin/env python3
"""Run inline-scan, syft and `docker save` alternately on the benchmark inputs, and write the
results section of docs/BENCHMARKS.md.

Each command runs under `/usr/bin/time -v`, which reports wall time, user and system CPU time and
the peak resident set size of the process tree it waited for. Tools run in turns within a
round (inline-scan, then syft or `docker save`), so a change in machine load hits both sides of
a ratio alike. The table shows the median of the rounds. Only the text between the two marker
lines of the output file is replaced, so hand-written notes around it are kept.
"""

import argparse
import collections
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

BEGIN = "<!-- bench/compare.sh writes from here -->"
END = "<!-- bench/compare.sh writes up to here -->"


def run_timed(command, shell=False):
    """Run `command` under /usr/bin/time -v and return wall, user, sys seconds and peak RSS KiB.

    The wall time is taken here with a monotonic clock around the whole run, because
    /usr/bin/time prints it in hundredths of a second, which is a tenth of a small image's run.
    """
    report = "/tmp/inline-scan-bench-time.txt"
    argv = ["/usr/bin/time", "-v", "-o", report]
    argv += ["sh", "-c", command] if shell else command
    started = time.perf_counter()
    completed = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"error: command failed with exit code {completed.returncode}: {shlex.join(argv)}")
    fields = {}
    with open(report) as lines:
        for line in lines:
            key, _, value = line.strip().rpartition(": ")
            fields[key] = value
    return {
        "wall": wall,
        "user": float(fields["User time (seconds)"]),
        "sys": float(fields["System time (seconds)"]),
        "rss_kib": int(fields["Maximum resident set size (kbytes)"]),
        "cpu_percent": fields["Percent of CPU this job got"],
    }


def count_packages(sbom_path):
    """Return the artifact count and the count per package type of a syft JSON document."""
    with open(sbom_path) as sbom:
        artifacts = json.load(sbom)["artifacts"]
    types = collections.Counter(artifact["type"] for artifact in artifacts)
    return len(artifacts), dict(sorted(types.items()))


def machine_facts():
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        memory_kib = int(info.readline().split()[1])
    flags = open("/proc/cpuinfo").read()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "sha_ni": " sha_ni" in flags,
        "memory_gib": round(memory_kib / (1 << 20), 1),
        "kernel": platform.release(),
        "load_start": open("/proc/loadavg").read().split()[:3],
    }


def median_of(samples, key):
    return statistics.median(sample[key] for sample in samples)


def summarize(samples):
    return {
        "runs": len(samples),
        "wall": median_of(samples, "wall"),
        "wall_min": min(sample["wall"] for sample in samples),
        "wall_max": max(sample["wall"] for sample in samples),
        "cpu": statistics.median(sample["user"] + sample["sys"] for sample in samples),
        "rss_mib": median_of(samples, "rss_kib") / 1024,
    }


def warm_page_cache(ref):
    """Read a tarball or OCI layout input once, so that the first tool of the first round does
    not pay for reading it from disk while the others find it in the page cache. The daemon
    cases and the other large inputs evict each other on this machine's memory."""
    if ref.startswith("docker-archive:"):
        paths = [ref[len("docker-archive:"):]]
    elif ref.startswith("oci-dir:"):
        layout = ref[len("oci-dir:"):].rsplit(":", 1)[0]
        paths = [os.path.join(folder, name) for folder, _, names in os.walk(layout) for name in names]
    else:
        return
    for path in paths:
        with open(path, "rb") as stream:
            while stream.read(1 << 20):
                pass


def measure_case(case, rounds, inline_scan, syft, workdir):
    """Run one case's tools in turns for `rounds` rounds and return their summaries."""
    name = case["name"]
    tools = collections.OrderedDict()
    ours_sbom = os.path.join(workdir, f"{name}.inline-scan.json")
    tools["inline-scan"] = {
        "argv": [inline_scan, "analyze", "--no-import", "-q", case["ref"], "--sbom-out", f"syft-json={ours_sbom}"],
        "sbom": ours_sbom,
    }
    if case.get("syft_ref"):
        syft_sbom = os.path.join(workdir, f"{name}.syft.json")
        tools["syft 1.18.1"] = {
            "argv": [syft, "-q", case["syft_ref"], "-o", f"syft-json={syft_sbom}"],
            "sbom": syft_sbom,
        }
    if case.get("docker_save"):
        tools["docker save"] = {"shell": f"docker save {shlex.quote(case['docker_save'])} > /dev/null"}

    warm_page_cache(case["ref"])
    samples = {tool: [] for tool in tools}
    for round_number in range(rounds):
        for tool, spec in tools.items():
            print(f"bench: {name}: round {round_number + 1}/{rounds}: {tool}", file=sys.stderr, flush=True)
            if "shell" in spec:
                samples[tool].append(run_timed(spec["shell"], shell=True))
            else:
                samples[tool].append(run_timed(spec["argv"]))

    results = collections.OrderedDict()
    for tool, spec in tools.items():
        result = summarize(samples[tool])
        result["command"] = spec.get("shell") or shlex.join(spec["argv"])
        if "sbom" in spec:
            result["packages"], result["types"] = count_packages(spec["sbom"])
        results[tool] = result
    return results


def format_types(types):
    return ", ".join(f"{kind} {count}" for kind, count in types.items())


def render_machine(facts, load_end):
    return [
        "### Machine",
        "",
        f"- {facts['nproc']} cores, {facts['cpu']}, SHA-NI {'present' if facts['sha_ni'] else 'absent'}, "
        f"{facts['memory_gib']} GiB memory, Linux {facts['kernel']}.",
        f"- Load average at start: {' '.join(facts['load_start'])}; at the end: {' '.join(load_end)}. "
        "The machine is shared with other jobs, so absolute times vary from run to run. "
        "The ratios compare tools that ran in turns under the same load.",
        f"- {facts['rustc']}; inline-scan built with `cargo build --release`.",
        "",
    ]


def render_results(cases, results):
    out = [
        "### Results",
        "",
        "Medians over the rounds. CPU is user + system time. RSS is the peak resident set size.",
        "",
        "| Input | Tool | Rounds | Wall (min-max) | CPU | Peak RSS | Packages |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in cases:
        for tool, result in results[case["name"]].items():
            packages = ""
            if "packages" in result:
                packages = f"{result['packages']} ({format_types(result['types'])})"
            out.append(
                f"| {case['title']} | {tool} | {result['runs']} | {result['wall']:.3f} s "
                f"({result['wall_min']:.3f}-{result['wall_max']:.3f}) | {result['cpu']:.2f} s | "
                f"{result['rss_mib']:.0f} MiB | {packages} |"
            )
    out.append("")
    return out


def target_row(title, measure, value, target, met):
    return f"| {title} | {measure} | {value} | {target} | {'yes' if met else 'no'} |"


def render_targets(cases, results):
    out = ["### Targets", "", "| Input | Measure | Value | Target | Met |", "| --- | --- | --- | --- | --- |"]
    for case in cases:
        title = case["title"]
        measured = results[case["name"]]
        ours = measured["inline-scan"]
        if "syft 1.18.1" in measured:
            syft = measured["syft 1.18.1"]
            wall = ours["wall"] / syft["wall"]
            rss = ours["rss_mib"] / syft["rss_mib"]
            out.append(target_row(title, "wall, inline-scan / syft", f"1/{1 / wall:.1f}", "<= 1/20", wall <= 1 / 20))
            out.append(target_row(title, "peak RSS, inline-scan / syft", f"1/{1 / rss:.1f}", "<= 1/4", rss <= 1 / 4))
            counts = f"{ours['packages']} vs {syft['packages']}"
            out.append(target_row(title, "packages, inline-scan vs syft", counts, "equal", ours["packages"] == syft["packages"]))
        if "docker save" in measured:
            ratio = ours["wall"] / measured["docker save"]["wall"]
            measure = "wall, inline-scan / `docker save > /dev/null`"
            out.append(target_row(title, measure, f"{ratio:.2f}x", "<= 1.15x", ratio <= 1.15))
        if case.get("cpu_target"):
            parallel = ours["cpu"] / ours["wall"]
            out.append(target_row(title, "CPU / wall of inline-scan", f"{parallel:.2f}", "> 1", parallel > 1))
    if "small-tarball" in results and "large-tarball" in results:
        ratio = results["large-tarball"]["inline-scan"]["rss_mib"] / results["small-tarball"]["inline-scan"]["rss_mib"]
        out.append(target_row("large vs small tarball", "peak RSS of inline-scan, large / small", f"{ratio:.2f}x", "<= 2x", ratio <= 2))
    out.append("")
    return out


def render_inputs_and_commands(cases, results):
    out = ["### Inputs", ""]
    out += [f"- {case['title']}: {case['description']}" for case in cases]
    out += [
        "",
        "### Commands",
        "",
        "Each ran as `/usr/bin/time -v COMMAND`, with `SYFT_CHECK_FOR_APP_UPDATE=false` set for syft.",
        "",
        "```",
    ]
    for case in cases:
        out += [result["command"] for result in results[case["name"]].values()]
    out += ["```", ""]
    return out


def render(facts, cases, results, load_end, started, finished, quick):
    """Return the Markdown section between the two marker lines, markers included."""
    command = "bench/compare.sh --quick" if quick else "bench/compare.sh"
    out = [BEGIN, "", f"Written by `{command}` on {started} (finished {finished}).", ""]
    out += render_machine(facts, load_end)
    out += render_results(cases, results)
    out += render_targets(cases, results)
    out += render_inputs_and_commands(cases, results)
    out.append(END)
    return "\n".join(out)


def write_section(path, section):
    """Replace the marked section of `path`, or append it when the markers are missing."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n## Latest run\n\n" + section + "\n"
    with open(path, "w") as output:
        output.write(text if text.endswith("\n") else text + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", required=True, help="JSON file listing the cases")
    parser.add_argument("--inline-scan", required=True)
    parser.add_argument("--syft", required=True)
    parser.add_argument("--workdir", required=True, help="directory for the SBOMs the tools write")
    parser.add_argument("--output", required=True, help="Markdown file whose marked section is rewritten")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    with open(args.cases) as spec:
        cases = json.load(spec)
    facts = machine_facts()
    facts["rustc"] = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    os.environ["SYFT_CHECK_FOR_APP_UPDATE"] = "false"
    results = {}
    for case in cases:
        results[case["name"]] = measure_case(case, case["rounds"], args.inline_scan, args.syft, args.workdir)
    load_end = open("/proc/loadavg").read().split()[:3]
    finished = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = render(facts, cases, results, load_end, started, finished, args.quick)
    write_section(args.output, section)
    print(section)


if __name__ == "__main__":
    main()
