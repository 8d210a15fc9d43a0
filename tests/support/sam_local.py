"""The real ``sam local invoke`` and ``start-lambda`` here: a container engine, an arm64 image, a proxy.

- Engine: Debian's docker.io daemon, started by the tests (no iptables, no bridge, vfs storage) with
  its socket and exec root in a temporary directory and its data root in the user's cache, so the image
  survives between runs. arm64 binaries run through qemu-user-static's binfmt registration.
- Image: the Lambda python3.13 arm64 base image cannot be pulled (no registry is reachable), so one is
  made: Debian trixie's arm64 python3 unpacked by mmdebstrap (no maintainer scripts run, so no qemu is
  needed: about 5 s instead of 8 minutes), bytecode compiled by the host's Python 3.13, the runtime
  interface client and boto3 in /var/runtime as the official image has them, and a bootstrap that
  starts the client on the handler the emulator names. Tagged by a hash of what it is built from.
- Networking: SAM talks to the engine through DockerApiProxy (tests/support/docker_proxy.py), which
  puts each Lambda container on the host's loopback with the emulator on the port SAM chose.

Missing tools skip the tier loudly here and fail it in CI (SIDEKIQ_WATCH_REQUIRE_INTEGRATION=1).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tests.conftest import FAKE_AWS, ROOT
from tests.support.docker_proxy import DockerApiProxy
from tests.support.real_sidekiq import MIRROR, unavailable

SUITE = "trixie"
# dash and coreutils: SAM's own layer on top runs `mv` and `chmod` in /bin/sh; libstdc++6: awslambdaric's
# C extension links it (without it the client starts and fails with "'NoneType' has no attribute 'next'").
PACKAGES = ("python3", "dash", "coreutils", "libstdc++6")
RUNTIME_WHEELS = ("awslambdaric==4.2.2", "boto3==1.44.8")
# What Lambda's python3.13 image sets (docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
IMAGE_ENVIRONMENT = {
    "LANG": "C.UTF-8",
    "TZ": ":/etc/localtime",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "PYTHONPATH": "/var/runtime",
}
BOOTSTRAP = '''#!/usr/bin/python3
"""Lambda's bootstrap in this image: the runtime interface client, on the handler the emulator names."""
import os

os.execv("/usr/bin/python3", ["python3", "-m", "awslambdaric", os.environ["_HANDLER"]])
'''
DOCKERFILE = (
    "FROM scratch\nCOPY rootfs/ /\n"
    + "".join(f"ENV {name}={value}\n" for name, value in IMAGE_ENVIRONMENT.items())
    + 'WORKDIR /var/task\nENTRYPOINT ["/var/runtime/bootstrap"]\n'
)
PASSWD = "root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:993:990::/home/sbx_user1051:/usr/sbin/nologin\n"
ENGINE_PACKAGES = "apt-get install docker.io qemu-user-static binfmt-support mmdebstrap"


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sidekiq-watch"


def image_tag() -> str:
    inputs = json.dumps([SUITE, PACKAGES, MIRROR, RUNTIME_WHEELS, BOOTSTRAP, DOCKERFILE, PASSWD])
    # The key is in the repository's name: SAM tags the image it builds on top (with the emulator) by
    # repository alone, so a new base under an old repository would run with the old base's layer.
    return f"sidekiq-watch-lambda-{hashlib.sha256(inputs.encode()).hexdigest()[:12]}:python3.13"


def lambda_python(version: str = "3.13") -> str:
    """The Lambda runtime's Python, found or fetched as `make lambda-artifact` does."""
    found = subprocess.run(
        ["sh", str(ROOT / "scripts" / "lambda-python.sh"), version],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        unavailable(f"no Python {version} (the Lambda runtime's) to be had: {found.stderr.strip()}")
    return found.stdout.strip()


def require_arm64_emulation() -> None:
    """Registers qemu's arm64 interpreter with the kernel if binfmt_misc is not yet set up."""
    registered = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if registered.exists() and registered.read_text().startswith("enabled"):
        return
    if shutil.which("update-binfmts") is None or not Path("/usr/libexec/qemu-binfmt").exists():
        unavailable(f"arm64 images need qemu-user-static and binfmt-support ({ENGINE_PACKAGES})")
    if not Path("/proc/sys/fs/binfmt_misc/register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"], check=False)
    subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True, check=False)
    if not (registered.exists() and registered.read_text().startswith("enabled")):
        unavailable("could not register qemu-aarch64 with binfmt_misc (needs root)")


class Engine:
    """A dockerd of the tests' own; ``socket`` is its API, ``docker(...)`` runs the client against it."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.socket = run_dir / "docker.sock"
        self.data_root = cache_root() / "docker"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None

    def docker(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}
        result = subprocess.run(
            ["docker", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {result.stderr.strip()[-2000:]}")
        return result

    def __enter__(self) -> Engine:
        if shutil.which("dockerd") is None or shutil.which("docker") is None:
            unavailable(f"the real `sam local` needs a container engine ({ENGINE_PACKAGES})")
        if os.geteuid() != 0:
            unavailable("starting dockerd needs root")
        self.data_root.mkdir(parents=True, exist_ok=True)
        # One daemon per data root: a second test run waits for the first instead of corrupting it.
        self._lock = os.open(self.data_root / ".lock", os.O_CREAT | os.O_RDWR)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        log = (self.run_dir / "dockerd.log").open("wb")
        self._process = subprocess.Popen(
            [
                "dockerd",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
                f"--data-root={self.data_root}",
                f"--exec-root={self.run_dir / 'exec'}",
                f"--pidfile={self.run_dir / 'dockerd.pid'}",
                f"--host=unix://{self.socket}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while self.docker("version", check=False, timeout=10).returncode != 0:
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = (self.run_dir / "dockerd.log").read_text(errors="replace")[-1500:]
                self.__exit__()
                unavailable(f"dockerd did not start: {tail}")
            time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(subprocess.CalledProcessError, AssertionError):
                running = self.docker("ps", "-q", check=False, timeout=30).stdout.split()
                if running:
                    self.docker("rm", "-f", *running, check=False, timeout=60)
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        # dockerd leaves the host network's namespace bound under its exec root.
        for line in Path("/proc/mounts").read_text().splitlines():
            mount_point = line.split()[1]
            if mount_point.startswith(str(self.run_dir) + "/"):
                subprocess.run(["umount", "-l", mount_point], check=False)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def has_image(self, tag: str) -> bool:
        return self.docker("image", "inspect", tag, check=False, timeout=30).returncode == 0

    def ensure_lambda_image(self) -> str:
        """The arm64 python3.13 image, built once per set of inputs (about 40 s)."""
        tag = image_tag()
        if self.has_image(tag):
            return tag
        if shutil.which("mmdebstrap") is None:
            unavailable(f"building the Lambda image needs mmdebstrap ({ENGINE_PACKAGES})")
        with tempfile.TemporaryDirectory(prefix="lambda-image-") as work:
            context = Path(work)
            rootfs = context / "rootfs"
            self._unpack_rootfs(rootfs)
            runtime = rootfs / "var" / "runtime"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-compile",
                    "--target",
                    str(runtime),
                    "--platform",
                    "manylinux2014_aarch64",
                    "--implementation",
                    "cp",
                    "--python-version",
                    "3.13",
                    "--only-binary=:all:",
                    *RUNTIME_WHEELS,
                ],
                capture_output=True,
                check=True,
                timeout=600,
            )
            shutil.rmtree(runtime / "bin", ignore_errors=True)
            (runtime / "bootstrap").write_text(BOOTSTRAP)
            (runtime / "bootstrap").chmod(0o755)
            (rootfs / "var" / "task").mkdir(parents=True, exist_ok=True)
            (rootfs / "etc" / "passwd").write_text(PASSWD)
            (rootfs / "etc" / "group").write_text("root:x:0:\n")
            # Without bytecode every cold start would compile the standard library under qemu (8 s).
            subprocess.run(
                [
                    lambda_python(),
                    "-m",
                    "compileall",
                    "-q",
                    "-j0",
                    str(rootfs / "usr/lib/python3.13"),
                    str(runtime),
                ],
                capture_output=True,
                check=False,
                timeout=600,
            )
            (context / "Dockerfile").write_text(DOCKERFILE)
            self.docker(
                "build", "--quiet", "--platform", "linux/arm64", "--tag", tag, str(context), timeout=900
            )
        self._remove_other_images(keep=tag.split(":")[0])
        return tag

    def _remove_other_images(self, keep: str) -> None:
        """Images of earlier inputs (and SAM's layers on them): each is a full copy under vfs."""
        listed = self.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", timeout=60).stdout.split()
        stale = [
            name for name in listed if name.startswith("sidekiq-watch-lambda-") and not name.startswith(keep)
        ]
        if stale:
            self.docker("image", "rm", "--force", *stale, check=False, timeout=300)

    @staticmethod
    def _unpack_rootfs(rootfs: Path) -> None:
        unpacked = subprocess.run(
            [
                "mmdebstrap",
                "--arch=arm64",
                "--variant=extract",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(rootfs),
                MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if unpacked.returncode != 0:
            unavailable(f"mmdebstrap could not unpack {SUITE}'s arm64 python3: {unpacked.stderr[-800:]}")
        # The extract variant runs no maintainer scripts: the merged-/usr links are made here.
        for name in ("bin", "lib", "sbin"):
            link = rootfs / name
            if not link.exists():
                link.symlink_to(f"usr/{name}")


@contextlib.contextmanager
def container_engine() -> Iterator[tuple[Engine, DockerApiProxy]]:
    """A running engine with the Lambda image built, and the proxy SAM must be pointed at."""
    require_arm64_emulation()
    with (
        tempfile.TemporaryDirectory(prefix="sam-local-", dir="/tmp") as run_dir,
        Engine(Path(run_dir)) as engine,
        DockerApiProxy(engine.socket, Path(run_dir) / "proxy.sock") as proxy,
    ):
        yield engine, proxy


SAM_CLI = "aws-sam-cli>=1.129,<2"  # scripts/check-sam-version.sh: the minimum the template needs
SAM_VENV = ROOT / "build" / "sam-cli"


def sam_cli() -> Path:
    """The SAM CLI in a virtualenv of its own under build/ (it pins boto3, click and cfn-lint)."""
    executable = SAM_VENV / "bin" / "sam"
    stamp = SAM_VENV / ".installed"
    runs = (
        executable.exists() and subprocess.run([executable, "--version"], capture_output=True).returncode == 0
    )
    if not (runs and stamp.exists() and stamp.read_text() == SAM_CLI):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(SAM_VENV)], check=True)
        subprocess.run(
            [str(SAM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", SAM_CLI], check=True
        )
        stamp.write_text(SAM_CLI)
    return executable


def sam_build(sam: Path, build_dir: Path, template: str = "template.yaml") -> Path:
    """``sam build`` as a user runs it (the Makefile's build targets); returns the built template."""
    result = subprocess.run(
        [str(sam), "build", "--parallel", "--template-file", template, "--build-dir", str(build_dir)],
        cwd=ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Build Succeeded" in result.stdout
    return build_dir / "template.yaml"


def clean_environment(home: Path, **extra: str) -> dict[str, str]:
    """What SAM and the stand-in are given of the shell: SAM lets the shell override declared variables,
    so a developer's exported SLACK_WEBHOOK_URL must reach neither."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "SAM_CLI_TELEMETRY": "0",
        "AWS_EC2_METADATA_DISABLED": "true",
        **FAKE_AWS,
        **extra,
    }


class SamLocal:
    """``sam local`` on the built templates (each function's own stack), through the proxy, on the arm64
    image."""

    def __init__(
        self, sam: Path, templates: dict[str, Path], proxy: DockerApiProxy, image: str, home: Path
    ) -> None:
        self.sam = sam
        self.templates = templates  # function logical id -> the built template declaring it
        self.image = image
        self.environment = clean_environment(home, DOCKER_HOST=f"unix://{proxy.listen}")

    def command(self, verb: str, function: str, *args: str) -> list[str]:
        return [
            str(self.sam),
            "local",
            verb,
            *args,
            "--template",
            str(self.templates[function]),
            "--invoke-image",
            self.image,
            "--skip-pull-image",
        ]

    def invoke(self, function: str, event: Path, env_vars: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command("invoke", function, function, "--event", str(event), "--env-vars", str(env_vars)),
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    @contextlib.contextmanager
    def start_lambda(self, function: str, env_vars: Path, port: int) -> Iterator[IO[str]]:
        """``sam local start-lambda`` with warm containers: a function's container is kept between calls."""
        log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in the finally below
        process = subprocess.Popen(
            self.command(
                "start-lambda",
                function,
                "--env-vars",
                str(env_vars),
                "--port",
                str(port),
                "--warm-containers",
                "LAZY",
            ),
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise AssertionError(f"sam local start-lambda did not start: {log.read()[-3000:]}")
                time.sleep(0.5)
            yield log  # what SAM and the functions print, for the caller to read
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
