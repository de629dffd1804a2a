"""A reader of one Avro schema, generated as Python source from the schema, straight to the JSON form.

Why: decoding was a quarter of the fold's CPU. fastavro interprets the schema for every record
(~20-25 us a CreditEvent here) and its result was then walked again for the JSON form (dates,
instants, absent optionals: ~8 us more). Code written once for this schema reads the bytes and
builds the JSON form in one pass (measured in `credit-ledger bench`'s baselines and the fold's
profile; see the README). Only records written with the current schema are read here; older
writers are resolved against it by fastavro (streams/codec.py), which is also the oracle the
tests compare this reader with.

The JSON form (streams/codec.py): a null optional is left out; an int/date is an ISO date, a
long/timestamp-micros an ISO instant in +08:00 (both by the converters given); bytes are base64
text; a union of several records is (record name, record) and any other union its value. Garbage
raises IndexError, EOFError, UnicodeDecodeError or ValueError, which the caller turns into a
CodecError naming the record.
"""
from __future__ import annotations

from collections.abc import Callable

from streams.avro_codegen import SchemaSource

VARINT_BYTES_MAX = 10  # a long is at most 64 bits: ten 7-bit groups
ARRAY_ITEMS_MAX = 100_000  # a record is at most 1 MiB; this bounds a garbage count's loop


def read_long(data: bytes, position: int) -> tuple[int, int]:
    """A zig-zag varint at `position`: (value, position after it)."""
    byte = data[position]
    value, shift, end = byte & 0x7F, 7, position + VARINT_BYTES_MAX
    while byte & 0x80:
        position += 1
        if position >= end:
            raise ValueError("a varint longer than 10 bytes")
        byte = data[position]
        value |= (byte & 0x7F) << shift
        shift += 7
    return (value >> 1) ^ -(value & 1), position + 1


class _Source(SchemaSource):
    """The generated functions' source, one reader function per named record."""

    prefix = "_read_"

    def __init__(self, schema: dict, converters: dict[str, Callable]):
        self.converters = converters  # logicalType -> converter, e.g. {"date": ..., "timestamp-micros": ...}
        super().__init__(schema)

    def record(self, schema: dict) -> str:
        function, new = self.function_of(schema)
        if not new:
            return function
        lines = [f"def {function}(b, p):", "    size = len(b)  # for the length checks", "    d = {}"]
        for field in schema["fields"]:
            lines += self.value(field["type"], "v", 1)
            optional = isinstance(field["type"], list) and "null" in field["type"]
            if optional:
                lines.append(f"    if v is not None: d[{field['name']!r}] = v")
            else:
                lines.append(f"    d[{field['name']!r}] = v")
        lines.append("    return d, p")
        self.functions[function] = "\n".join(lines)
        return function

    def long(self, var: str, indent: int) -> list[str]:
        pad = "    " * indent
        return [f"{pad}x = b[p]",  # the one-byte varint, most of a record's, inline
                f"{pad}if x < 0x80:",
                f"{pad}    {var} = (x >> 1) ^ -(x & 1)",
                f"{pad}    p += 1",
                f"{pad}else:",
                f"{pad}    {var}, p = read_long(b, p)"]

    def value(self, schema, var: str, indent: int) -> list[str]:
        """Lines that read one value of `schema` at p into `var` and move p past it."""
        pad = "    " * indent
        schema = self.resolve(schema)
        if isinstance(schema, list):
            return self.union(schema, var, indent)
        kind = schema["type"] if isinstance(schema, dict) else schema
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if kind == "null":
            return [f"{pad}{var} = None"]
        if kind == "boolean":
            return [f"{pad}x = b[p]", f"{pad}p += 1",
                    f"{pad}if x > 1: raise ValueError('a boolean byte is 0 or 1')", f"{pad}{var} = x == 1"]
        if kind in ("int", "long"):
            lines = self.long(var, indent)
            if logical in self.converters:
                lines.append(f"{pad}{var} = {self.converters[logical].__name__}({var})")  # imported by name
            return lines
        if kind in ("string", "bytes"):
            lines = self.long("n", indent) + [
                f"{pad}e = p + n",
                f"{pad}if n < 0 or e > size: raise EOFError('a length below 0 or past the end')",
                f"{pad}{var} = str(b[p:e], 'utf-8')" if kind == "string"
                else f"{pad}{var} = _b64(b[p:e]).decode('ascii')",  # the JSON form's bytes: base64 text
                f"{pad}p = e"]
            return lines
        if kind == "enum":
            symbols = self.constant(tuple(schema["symbols"]))
            self.name(schema)
            return self.long("i", indent) + [f"{pad}if i < 0: raise IndexError('an enum index below 0')",
                                             f"{pad}{var} = {symbols}[i]"]
        if kind == "array":
            item, k = f"{var}_item", f"{var}_k"  # names of their own: an array may hold arrays
            return [f"{pad}{var} = []", *self.long(k, indent),
                    f"{pad}while {k}:",
                    f"{pad}    if {k} < 0:",  # a block with its size in bytes too
                    f"{pad}        {k} = -{k}",
                    f"{pad}        _, p = read_long(b, p)",
                    f"{pad}    if len({var}) + {k} > {ARRAY_ITEMS_MAX}: raise ValueError('too many items')",
                    f"{pad}    for _ in range({k}):",
                    *self.value(schema["items"], item, indent + 2),
                    f"{pad}        {var}.append({item})",
                    *self.long(k, indent + 1)]
        if kind == "record":
            return [f"{pad}{var}, p = {self.record(schema)}(b, p)"]
        raise NotImplementedError(f"no generated reader for Avro type {kind!r}: decode with fastavro")

    def union(self, branches: list, var: str, indent: int) -> list[str]:
        pad = "    " * indent
        resolved = [self.resolve(branch) for branch in branches]
        records = [b for b in resolved if isinstance(b, dict) and b.get("type") == "record"]
        lines = self.long("i", indent)
        if len(records) == len(resolved) > 1:  # the payload: a table of readers, not an if for each branch
            readers = self.table([self.record(branch) for branch in resolved])
            names = self.constant(tuple(branch["name"] for branch in resolved))
            return lines + [f"{pad}if i < 0: raise IndexError('a union branch index below 0')",
                            f"{pad}{var}_body, p = {readers}[i](b, p)",
                            f"{pad}{var} = ({names}[i], {var}_body)"]
        for number, branch in enumerate(resolved):
            lines.append(f"{pad}{'if' if number == 0 else 'elif'} i == {number}:")
            if len(records) > 1 and branch in records:  # which record it is, as fastavro's return_record_name
                lines += [f"{pad}    {var}_body, p = {self.record(branch)}(b, p)",
                          f"{pad}    {var} = ({branch['name']!r}, {var}_body)"]
            else:
                lines += self.value(branch, var, indent + 1)
        return lines + [f"{pad}else:", f"{pad}    raise IndexError('a union branch index out of range')"]


def source(schema: dict, converters: dict[str, Callable]) -> _Source:
    """The reader of `schema` (fully expanded, logical types kept) as source: its root function reads
    one record at a position, (the record in its JSON form, position after it). `converters` map a
    logical type to a function the generated module imports by its name."""
    return _Source(schema, converters)


def reading(root: Callable[[bytes, int], tuple[dict, int]]) -> Callable[[bytes, int], tuple[dict, int]]:
    """A generated root reader whose read past the end is an EOFError, as fastavro's."""
    def read(data: bytes, position: int) -> tuple[dict, int]:
        try:
            return root(data, position)
        except IndexError as exc:
            if str(exc) == "index out of range":  # a byte read past the end, not a branch or symbol
                raise EOFError("the body ends early") from None
            raise
    return read
