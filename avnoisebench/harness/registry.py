"""Methods registered through the `avnoisebench.methods` entry-point group."""

from importlib.metadata import EntryPoint, entry_points

from avnoisebench.errors import AvnbError
from avnoisebench.harness.method import Method

GROUP = "avnoisebench.methods"


def registered_methods() -> dict[str, EntryPoint]:
    """Every registered method's entry point, by name."""
    return {ep.name: ep for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name)}


def load_method(name: str) -> type[Method]:
    """The Method class registered as `name`."""
    methods = registered_methods()
    if name not in methods:
        raise AvnbError(
            f"no method named {name!r}; registered methods: {', '.join(methods) or 'none'} "
            f"(a package registers one under the entry-point group {GROUP!r})"
        )
    method = methods[name].load()
    if not (isinstance(method, type) and issubclass(method, Method)):
        raise AvnbError(f"entry point {name!r} ({methods[name].value}) is not a subclass of avnoisebench Method")
    return method
