#!/usr/bin/env python3
"""gen-model.py: turn AWS's API models, as botocore ships them, into the C
tables berth validates requests against (src/api/model_{ecs,ecr,logs}.c).

Only the request side is kept: each operation's name, input shape, output
shape name and error shape names, and every shape reachable from an input
(type, members with their required flag, list element, map key and value,
enum values, min/max). Documentation, patterns and response-only shapes are
dropped. Output is deterministic, so regenerating with the same botocore
gives the same files.

    tools/gen-model.py [--out-dir src/api]
"""
import argparse
import gzip
import json
import os
import sys

import botocore

SERVICES = [
    # (C suffix, botocore service name, API version, what to call it)
    ("ecs", "ecs", "2014-11-13", "Amazon ECS"),
    ("ecr", "ecr", "2015-09-21", "Amazon ECR"),
    ("logs", "logs", "2014-03-28", "Amazon CloudWatch Logs"),
]

TYPES = {
    "structure": "MODEL_STRUCTURE",
    "list": "MODEL_LIST",
    "map": "MODEL_MAP",
    "string": "MODEL_STRING",
    "integer": "MODEL_INTEGER",
    "long": "MODEL_LONG",
    "boolean": "MODEL_BOOLEAN",
    "double": "MODEL_DOUBLE",
    "float": "MODEL_FLOAT",
    "timestamp": "MODEL_TIMESTAMP",
    "blob": "MODEL_BLOB",
}

# Must match src/api/model.h.
MAX_MEMBERS = 64  # a structure's members fit one uint64_t bitmap
MAX_INDEX = 0xFFFE  # 0xFFFF is MODEL_NO_SHAPE
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def die(msg):
    sys.exit("gen-model: " + msg)


def c_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F and ch != "?":  # '?' would risk trigraphs
            out.append(ch)
        else:
            for b in ch.encode("utf-8"):
                out.append("\\%03o" % b)
    out.append('"')
    return "".join(out)


def is_document(shape):
    return shape.get("document", False)


def refs(shape):
    t = shape["type"]
    if is_document(shape):
        return []
    if t == "structure":
        return [m["shape"] for m in shape["members"].values()]
    if t == "list":
        return [shape["member"]["shape"]]
    if t == "map":
        return [shape["key"]["shape"], shape["value"]["shape"]]
    return []


def limit(shape_name, shape, key):
    v = shape.get(key)
    if v is None:
        return None
    if isinstance(v, float):
        if not v.is_integer():
            die("%s: non-integral %s %r is not supported" % (shape_name, key, v))
        v = int(v)
    if not INT64_MIN <= v <= INT64_MAX:
        die("%s: %s %r does not fit int64_t" % (shape_name, key, v))
    return v


def c_int64(v):
    # INT64_MIN cannot be written as a literal; nothing in the models needs it
    # today but keep the output valid C if it ever does.
    return "INT64_MIN" if v == INT64_MIN else str(v)


def generate(suffix, svc, version, title, botocore_version):
    path = os.path.join(botocore.__path__[0], "data", svc, version,
                        "service-2.json.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        model = json.load(f)
    shapes = model["shapes"]
    meta = model["metadata"]
    if meta.get("protocol") != "json":
        die("%s: protocol %r, expected json" % (svc, meta.get("protocol")))

    ops = sorted(model["operations"].values(), key=lambda o: o["name"])
    for o in ops:
        if not o["name"].isascii():
            die("%s: operation name %r is not ASCII" % (svc, o["name"]))

    # Shapes reachable from the inputs, numbered in name order.
    reach = set()
    stack = [o["input"]["shape"] for o in ops if "input" in o]
    while stack:
        n = stack.pop()
        if n in reach:
            continue
        if n not in shapes:
            die("%s: unknown shape %r" % (svc, n))
        reach.add(n)
        stack.extend(refs(shapes[n]))
    names = sorted(reach)
    if len(names) > MAX_INDEX:
        die("%s: too many shapes" % svc)
    index = {n: i for i, n in enumerate(names)}

    shape_lines = []
    members = []  # (name, shape index, required, owner)
    enums = []
    enum_ranges = {}  # tuple of values -> first index, shared between shapes
    for i, n in enumerate(names):
        s = shapes[n]
        t = s["type"]
        fields = []
        flags = []
        if is_document(s):
            ctype = "MODEL_DOCUMENT"
        elif t in TYPES:
            ctype = TYPES[t]
        else:
            die("%s: shape %s has unsupported type %r" % (svc, n, t))
        if ctype == "MODEL_STRUCTURE":
            mem = s["members"]
            if len(mem) > MAX_MEMBERS:
                die("%s: %s has %d members, more than %d" %
                    (svc, n, len(mem), MAX_MEMBERS))
            req = set(s.get("required", []))
            for r in req:
                if r not in mem:
                    die("%s: %s requires unknown member %r" % (svc, n, r))
            # sorted by name so validate.c can binary search them
            first = len(members)
            for mname in sorted(mem, key=lambda x: x.encode("utf-8")):
                members.append((mname, index[mem[mname]["shape"]],
                                mname in req, n))
            fields.append(".members = { %d, %d }" % (first, len(mem)))
            if s.get("union"):
                flags.append("MODEL_UNION")
        elif ctype == "MODEL_LIST":
            fields.append(".element = %d" % index[s["member"]["shape"]])
        elif ctype == "MODEL_MAP":
            fields.append(".map = { %d, %d }" % (index[s["key"]["shape"]],
                                                  index[s["value"]["shape"]]))
        if "enum" in s:
            if ctype != "MODEL_STRING":
                die("%s: enum on non-string shape %s" % (svc, n))
            vals = tuple(s["enum"])
            if vals not in enum_ranges:
                enum_ranges[vals] = len(enums)
                enums.extend(vals)
            fields.append(".enums = { %d, %d }" % (enum_ranges[vals], len(vals)))
        lo = limit(n, s, "min")
        hi = limit(n, s, "max")
        if lo is not None:
            flags.append("MODEL_HAS_MIN")
            fields.append(".min = %s" % c_int64(lo))
        if hi is not None:
            flags.append("MODEL_HAS_MAX")
            fields.append(".max = %s" % c_int64(hi))
        # all designated, so that -Wextra does not ask for the union
        head = ".type = " + ctype
        if flags:
            head += ", .flags = " + " | ".join(flags)
        shape_lines.append("\t/* %d %s */ { %s },\n" %
                           (i, n, ", ".join([head] + fields)))
    if len(members) > MAX_INDEX or len(enums) > MAX_INDEX:
        die("%s: too many members or enum values" % svc)

    errors = sorted({e["shape"] for o in ops for e in o.get("errors", [])})
    if len(errors) > 255:
        die("%s: more than 255 distinct errors" % svc)
    error_index = {e: i for i, e in enumerate(errors)}
    op_errors = []
    op_lines = []
    for o in ops:
        first = len(op_errors)
        errs = [error_index[e["shape"]] for e in o.get("errors", [])]
        op_errors.extend(errs)
        inp = ("%d" % index[o["input"]["shape"]]) if "input" in o \
            else "MODEL_NO_SHAPE"
        out = c_string(o["output"]["shape"]) if "output" in o else "NULL"
        op_lines.append("\t{ %s, %s, %s, %d, %d },\n" %
                        (c_string(o["name"]), out, inp, first, len(errs)))
    if len(op_errors) > MAX_INDEX:
        die("%s: too many operation errors" % svc)

    out = []
    w = out.append
    w("/*\n")
    w(" * model_%s.c: the request side of the %s API\n" % (suffix, title))
    w(" * model (%s %s): its operations and the shapes reachable from\n"
      % (svc, version))
    w(" * their inputs, as tables for api/validate.c (layout in api/model.h).\n")
    w(" *\n")
    w(" * generated by tools/gen-model.py from botocore %s; do not edit.\n"
      % botocore_version)
    w(" */\n")
    w('#include "api/model.h"\n\n#include <stddef.h>\n#include <stdint.h>\n\n')
    w('#include "core/banned.h"\n\n')
    w("static const struct model_shape shapes[] = {\n")
    out.extend(shape_lines)
    w("};\n\n")
    w("static const struct model_member members[] = {\n")
    owner = None
    for i, (mname, si, req, own) in enumerate(members):
        if own != owner:
            w("\t/* %d %s */\n" % (i, own))
            owner = own
        w("\t{ %s, %d, %d },\n" % (c_string(mname), si, 1 if req else 0))
    w("};\n\n")
    w("static const char *const enums[] = {\n")
    for i in range(0, len(enums), 4):
        w("\t" + " ".join(c_string(v) + "," for v in enums[i:i + 4]) + "\n")
    if not enums:
        w("\tNULL,\n")
    w("};\n\n")
    w("static const char *const errors[] = {\n")
    for e in errors:
        w("\t%s,\n" % c_string(e))
    if not errors:
        w("\tNULL,\n")
    w("};\n\n")
    w("static const uint8_t op_errors[] = {\n")
    for i in range(0, len(op_errors), 16):
        w("\t" + " ".join("%d," % v for v in op_errors[i:i + 16]) + "\n")
    if not op_errors:
        w("\t0,\n")
    w("};\n\n")
    w("static const struct model_operation operations[] = {\n")
    out.extend(op_lines)
    w("};\n\n")
    w("const struct model_service model_%s = {\n" % suffix)
    w("\t.name = %s,\n" % c_string(svc))
    w("\t.api_version = %s,\n" % c_string(meta.get("apiVersion", version)))
    w("\t.target_prefix = %s,\n" % c_string(meta.get("targetPrefix", "")))
    w("\t.operations = operations,\n")
    w("\t.noperations = sizeof(operations) / sizeof(operations[0]),\n")
    w("\t.shapes = shapes,\n")
    w("\t.nshapes = sizeof(shapes) / sizeof(shapes[0]),\n")
    w("\t.members = members,\n")
    w("\t.enums = enums,\n")
    w("\t.errors = errors,\n")
    w("\t.op_errors = op_errors,\n")
    w("};\n")
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src", "api"))
    args = ap.parse_args()
    for suffix, svc, version, title in SERVICES:
        text = generate(suffix, svc, version, title, botocore.__version__)
        path = os.path.join(args.out_dir, "model_%s.c" % suffix)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print("gen-model: wrote %s (%d bytes)" % (os.path.normpath(path),
                                                  len(text)))


if __name__ == "__main__":
    main()
