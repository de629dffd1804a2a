"""What the reader and the writers generated from an Avro schema share (streams/avro_decoder.py,
streams/avro_encoder.py): the named types met so far, the constants the code refers to, and
compiling the source into functions."""
from __future__ import annotations


class SchemaSource:
    """The generated functions' source: one function per named record, `prefix` + its name."""

    prefix = ""

    def __init__(self, schema: dict):
        self.named: dict[str, dict] = {}
        self.functions: dict[str, str] = {}
        self.constants: dict[str, object] = {}
        self.tables: list[str] = []  # module-level lines after the functions: tuples of functions
        self.root = self.record(schema)  # the name of the function for a whole record

    def record(self, schema: dict) -> str:
        raise NotImplementedError

    def constant(self, value) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def name(self, schema: dict) -> str:
        """A named type's definition met: known by its full and its short name from now on."""
        self.named[schema["name"]] = schema
        self.named[schema["name"].rsplit(".", 1)[-1]] = schema
        return schema["name"]

    def function_of(self, schema: dict) -> tuple[str, bool]:
        """(the record's function name, whether it is still to be written)."""
        function = self.prefix + schema["name"].replace(".", "_")
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

    def compiled(self, label: str, namespace: dict) -> dict:
        """The namespace with every function defined and the tables bound."""
        namespace = {**namespace, **self.constants}
        code = "\n\n".join([*self.functions.values(), *self.tables])
        exec(compile(code, f"<{label}>", "exec"), namespace)  # noqa: S102 - our own schema
        return namespace
