"""The patch put into FerretDB's source before it is built: atomic document writes, and filters
that PostgreSQL's indexes serve. The cached build records ``FERRETDB_PATCH``; a build with another
stamp is not taken from the cache."""

from __future__ import annotations

from pathlib import Path

from .common import StackError

# FerretDB 1.24 updates a document by reading it and writing it back in two steps, so concurrent
# updates of one document lose writes (50 concurrent $inc end as +3) and two conditional updates on
# the same version both succeed. Before building, one process-wide lock is put around its
# read-modify-write paths (update, findAndModify, delete), which makes each of them atomic as in
# MongoDB. See docs/decisions/0006-ferretdb-atomic-updates.md.
FERRETDB_PATCH = "regstd-atomic-writes-2+pushdown-3"
_FERRETDB_LOCK_FILE = """// Added by regstd's deploy/local/stack.py before building (patch {patch}).
package handler

import "sync"

// regstdWriteMu makes each read-modify-write of a document atomic: FerretDB 1.24 reads matching
// documents and writes them back in separate steps, so concurrent writers lose updates.
var regstdWriteMu sync.Mutex
"""
# FerretDB's PostgreSQL backend filters `_id` with JSON containment (`_jsonb->'_id' @> $1`), which
# the unique index on `_jsonb->'_id'` cannot serve, so every read by `_id` scans the table; and it
# never pushes `$in` or `$gt` down to PostgreSQL. The patch filters a string or ObjectId `_id` (never
# an array: containment is equality) and `_id: {$in: [...]}` by equality, and an integer `$gt` on a
# top-level field by jsonb order, which PostgreSQL's index on that field serves. Pushed-down filters
# only narrow what PostgreSQL returns: FerretDB still applies the whole filter to every document, and
# jsonb order keeps every document MongoDB's `$gt` on a number could match (numbers compare as
# numbers, arrays, objects and booleans sort above every number; strings and nulls, which never match,
# below).
_FERRETDB_PUSHDOWN_FILE = """// Added by regstd's deploy/local/stack.py before building (patch {patch}).
package postgresql

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/postgresql/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// regstdIDValue is the JSON form of a string or ObjectId `_id`, as stored; ok is false otherwise.
func regstdIDValue(v any) (string, bool) {{
	switch v.(type) {{
	case string, types.ObjectID:
		return string(must.NotFail(sjson.MarshalSingleValue(v))), true
	}}
	return "", false
}}

// regstdIDEqual filters `_id` by equality, which the `_id` index serves.
func regstdIDEqual(p *metadata.Placeholder, k any, v any) (string, []any) {{
	id, ok := regstdIDValue(v)
	if k != "_id" || !ok {{
		return "", nil
	}}
	return fmt.Sprintf("%s->'_id' = %s", metadata.DefaultColumn, p.Next()), []any{{id}}
}}

// regstdIDIn filters `_id: {{$in: [...]}}` of strings and ObjectIds through the `_id` index.
func regstdIDIn(p *metadata.Placeholder, k string, v any) (string, []any) {{
	values, isArray := v.(*types.Array)
	if k != "_id" || !isArray || values.Len() == 0 {{
		return "", nil
	}}
	var placeholders []string
	var args []any
	for i := 0; i < values.Len(); i++ {{
		id, ok := regstdIDValue(must.NotFail(values.Get(i)))
		if !ok {{
			return "", nil
		}}
		placeholders = append(placeholders, p.Next())
		args = append(args, id)
	}}
	return fmt.Sprintf("%s->'_id' IN (%s)", metadata.DefaultColumn, strings.Join(placeholders, ", ")), args
}}

// regstdGreater narrows `{{k: {{$gt: n}}}}` with an integer n on a top-level key by jsonb order.
func regstdGreater(p *metadata.Placeholder, k string, v any) (string, []any) {{
	var n int64
	switch v := v.(type) {{
	case int32:
		n = int64(v)
	case int64:
		n = v
	default:
		return "", nil
	}}
	if k == "" || strings.ContainsAny(k, ".$'\\\\") || n > 1<<53 || n < -(1<<53) {{
		return "", nil
	}}
	return fmt.Sprintf("%s->'%s' > %s", metadata.DefaultColumn, k, p.Next()), []any{{fmt.Sprint(n)}}
}}
"""
_FERRETDB_QUERY_GO = "internal/backends/postgresql/query.go"
_FERRETDB_FILTER_EQUAL = (
    "func filterEqual(p *metadata.Placeholder, k any, v any, operator string) (filter string, args []any) {\n"
)
_FERRETDB_OPERATOR_SWITCH = '\t\t\t\tswitch k {\n\t\t\t\tcase "$eq":\n'
_FERRETDB_NEW_CASES = """case "$in":
					if f, a := regstdIDIn(p, rootKey, v); f != "" {
						filters = append(filters, f)
						args = append(args, a...)
					}

				case "$gt":
					if f, a := regstdGreater(p, rootKey, v); f != "" {
						filters = append(filters, f)
						args = append(args, a...)
					}

				case "$eq":"""
_FERRETDB_QUERY_EDITS = {
    # each anchor must occur exactly once; it is replaced by its text
    _FERRETDB_FILTER_EQUAL: _FERRETDB_FILTER_EQUAL
    + '\tif f, a := regstdIDEqual(p, k, v); f != "" {\n\t\treturn f, a\n\t}\n\n',
    _FERRETDB_OPERATOR_SWITCH: _FERRETDB_OPERATOR_SWITCH.replace('case "$eq":', _FERRETDB_NEW_CASES),
}
_FERRETDB_LOCKED_FUNCTIONS = {
    "internal/handler/msg_update.go": "func (h *Handler) updateDocument(",
    "internal/handler/msg_findandmodify.go": "func (h *Handler) findAndModifyDocument(",
    "internal/handler/msg_delete.go": "func (h *Handler) execDelete(",
}


def patch_ferretdb(src: Path) -> None:
    """Make FerretDB's document writes atomic and its `_id` filters indexed (see FERRETDB_PATCH).

    Fails if the source no longer has the exact places the patch edits.
    """
    (src / "internal" / "handler" / "regstd_write_lock.go").write_text(
        _FERRETDB_LOCK_FILE.format(patch=FERRETDB_PATCH)
    )
    (src / "internal" / "backends" / "postgresql" / "regstd_pushdown.go").write_text(
        _FERRETDB_PUSHDOWN_FILE.format(patch=FERRETDB_PATCH)
    )
    query = src / _FERRETDB_QUERY_GO
    code = query.read_text()
    for anchor, replacement in _FERRETDB_QUERY_EDITS.items():
        if code.count(anchor) != 1:
            raise StackError(f"cannot patch FerretDB: {_FERRETDB_QUERY_GO} no longer has {anchor!r}")
        code = code.replace(anchor, replacement)
    query.write_text(code)
    for relative, signature in _FERRETDB_LOCKED_FUNCTIONS.items():
        path = src / relative
        code = path.read_text()
        if code.count(signature) != 1:
            raise StackError(f"cannot patch FerretDB: {relative} no longer has {signature!r}")
        body = code.index(") {\n", code.index(signature)) + len(") {\n")
        lock = "\tregstdWriteMu.Lock()\n\tdefer regstdWriteMu.Unlock()\n\n"
        path.write_text(code[:body] + lock + code[body:])
