"""What the reader and the writers generated from an Avro schema share (streams/avro_decoder.py,
streams/avro_encoder.py): the named types met so far, the constants the code refers to, and the
source of a module that defines the functions (written by `python -m ops.avro_gen` into
avro_schemas/codecs.py, which is checked in and never `exec`'d)."""
from __future__ import annotations

CONSTANT_CHARS_MAX = 10_000  # a constant's source (a table of symbols or field names): nothing near it


def literal(value) -> str:
    """`value` as Python source that gives it back, the same text on every run (sets sorted)."""
    if isinstance(value, frozenset):
        return f"frozenset({tuple(sorted(value))!r})"
    text = repr(value)
    assert len(text) <= CONSTANT_CHARS_MAX, f"a constant of {len(text)} characters"
    return text


class SchemaSource:
    """The generated functions' source: one function per named record, named `prefix` + the root
    record's name + the record's name, so that the functions of several schemas share a module."""

    prefix = ""

    def __init__(self, schema: dict):
        self.label = self.prefix + schema["name"].rsplit(".", 1)[-1] + "_"
        self.named: dict[str, dict] = {}
        self.functions: dict[str, str] = {}
        self.constants: dict[str, object] = {}
        self.tables: list[str] = []  # module-level lines after the functions: tuples of functions
        self.root = self.record(schema)  # the name of the function for a whole record

    def record(self, schema: dict) -> str:
        raise NotImplementedError

    def constant(self, value) -> str:
        name = f"{self.label}c{len(self.constants)}"
        self.constants[name] = value
        return name

    def table(self, functions: list[str]) -> str:
        """A tuple of functions, bound once every function is defined: its name."""
        name = f"{self.label}t{len(self.tables)}"
        self.tables.append(f"{name} = ({', '.join(functions)},)")
        return name

    def name(self, schema: dict) -> str:
        """A named type's definition met: known by its full and its short name from now on."""
        self.named[schema["name"]] = schema
        self.named[schema["name"].rsplit(".", 1)[-1]] = schema
        return schema["name"]

    def function_of(self, schema: dict) -> tuple[str, bool]:
        """(the record's function name, whether it is still to be written)."""
        function = self.label + schema["name"].replace(".", "_")
        if schema["name"] in self.named:
            return function, False
        self.name(schema)
        return function, True

    def resolve(self, schema):
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        if isinstance(schema, dict) and isinstance(schema.get("type"), str) and schema["type"] in self.named:
            return self.named[schema["type"]]
        return schema

    def module_source(self) -> str:
        """The constants, the functions and the tables, as module source."""
        constants = [f"{name} = {literal(value)}" for name, value in self.constants.items()]
        return "\n\n\n".join(["\n".join(constants), *self.functions.values(), "\n".join(self.tables)]) + "\n"


def module_source(header: str, sources: list[SchemaSource]) -> str:
    """A whole generated module: `header` (its docstring and imports), then each schema's functions."""
    return header.rstrip("\n") + "\n\n\n" + "\n\n".join(source.module_source() for source in sources)

