"""Wire paging into the container: the escalation hook, the commit wakeup and the worker for `serve`."""

from __future__ import annotations

from typing import Any

from prism_ir.bootstrap import INSTALLERS, Container
from prism_ir.engine import runtime


async def start_worker(container: Any) -> None:
    from prism_ir.engine.loop import Worker

    await Worker(container).run()


def install(container: Container) -> None:
    runtime.install(container)
    container.extras["start_worker"] = start_worker


INSTALLERS.append(install)
