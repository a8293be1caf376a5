"""pytest configuration shared by unit tests and nbval.

nbval: stderr is not compared (warnings and library log lines vary between machines and versions).
"""


def pytest_collectstart(collector):
    if getattr(collector, "path", None) is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare += ("stderr",)
