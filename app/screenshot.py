"""Headless Chromium pictures of a flow run in the Prefect UI: the run page and its summary artifact."""

import html
import re
import shutil
import subprocess
from pathlib import Path

from app.prefect_server import post_json, ui_base, ui_url

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]


def chromium() -> str:
    if found := shutil.which("chromium") or shutil.which("chromium-browser"):
        return found
    raise RuntimeError("no chromium on PATH: install Debian's chromium package (make chromium)")


def render(url: str, png: Path, size: tuple[int, int] = (1400, 1400), wait_ms: int = 20_000) -> str:
    """Screenshot url to png once the page's scripts have had wait_ms of virtual time; return the page's text."""
    common = [chromium(), *CHROMIUM_FLAGS, f"--virtual-time-budget={wait_ms}", f"--window-size={size[0]},{size[1]}"]
    png.parent.mkdir(parents=True, exist_ok=True)
    shot = subprocess.run([*common, f"--screenshot={png}", url], capture_output=True, text=True, timeout=120)
    if shot.returncode or not png.exists():
        raise RuntimeError(f"chromium could not take {url}: {shot.stderr.strip().splitlines()[-1:]}")
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def flow_run_pictures(api_url: str, flow_run_id: str, to: Path) -> dict[str, str]:
    """Pictures of the flow run page and of its forecast-summary artifact, as {file: rendered text of the page}."""
    pages = {"flow-run.png": ui_url(api_url, flow_run_id)}
    body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": ["forecast-summary"]}}}
    if summaries := post_json(f"{api_url.rstrip('/')}/artifacts/filter", body):
        pages["summary.png"] = f"{ui_base(api_url)}/artifacts/artifact/{summaries[0]['id']}"
    return {name: render(url, to / name) for name, url in pages.items()}
