"""The patch put into FerretDB's source before it is built: atomic document writes, and filters
that PostgreSQL's indexes serve. The cached build records ``FERRETDB_PATCH``; a build with another
stamp is not taken from the cache."""

from __future__ import annotations

from pathlib import Path

from .common import StackError

# FerretDB 1.24 updates a document by reading it and writing it back in two steps, so concurrent
# updates of one document lose writes (50 concurrent $inc end as +3) and two conditional updates on
# the same version both succeed. Before building, a lock per collection is put around its
# read-modify-write paths (update, findAndModify, delete), which makes each of them atomic as in
# MongoDB; writes to different collections do not wait for each other (a document lives in one
# collection, and MongoDB promises no more than one document's atomicity).
# See docs/decisions/0006-ferretdb-atomic-updates.md and 0038.
#
# FerretDB also records every cursor, iterator and transaction it opens in a pprof profile, with a
# stack trace and a finalizer that panics on a leak (`resource.Track`): a debugging aid that cost
# about a tenth of its CPU per call here. The patch turns that tracking off.
FERRETDB_PATCH = "regstd-atomic-writes-3+pushdown-9+untracked-1"
_FERRETDB_LOCK_FILE = """// Added by regstd's deploy/local/stack.py before building (patch {patch}).
package handler

import "sync"

// regstdWriteLocks holds one mutex per database and collection. Each makes a read-modify-write of
// a document in that collection atomic: FerretDB 1.24 reads matching documents and writes them back
// in separate steps, so concurrent writers lose updates.
var regstdWriteLocks sync.Map

// regstdLock locks the collection's writes and returns the unlock.
func regstdLock(db, collection string) func() {{
	m, _ := regstdWriteLocks.LoadOrStore(db+"\\x00"+collection, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}}
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
# Likewise `$lt`/`$lte` with an integer or a date (stored as its milliseconds, a JSON number).
# Each bound is a closed range of numbers on the field, with a second range for arrays, which may hold
# a match: without a lower bound, `$lte` also returned every null (jsonb sorts null below numbers), so
# the clock scans' `clocks_next_at` `$lte` read every project whose clocks had all stopped, and
# PostgreSQL, planning a one-sided range without statistics, scanned the table (decisions 46, 47).
# `$type: "string"` is the range between null and the numbers (and the arrays): publication's search
# for revisions read every published standard (decision 47).
_FERRETDB_PUSHDOWN_FILE = """// Added by regstd's deploy/local/stack.py before building (patch {patch}).
package postgresql

import (
	"fmt"
	"strings"
	"time"

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

// regstdBound is n as jsonb orders it: an integer, or a date's milliseconds (as sjson stores it),
// within the range a JSON number keeps exactly, on a plain top-level key; ok is false otherwise.
func regstdBound(k string, v any) (n int64, ok bool) {{
	switch v := v.(type) {{
	case int32:
		n = int64(v)
	case int64:
		n = v
	case time.Time:
		n = v.UnixMilli()
	default:
		return 0, false
	}}
	if !regstdPlainKey(k) || n > 1<<53 || n < -(1<<53) {{
		return 0, false
	}}
	return n, true
}}

// regstdPlainKey is whether k names a top-level field and can be written into SQL as it is.
func regstdPlainKey(k string) bool {{
	return k != "" && !strings.ContainsAny(k, ".$'\\\\")
}}

// regstdNumbersFrom is below every number FerretDB stores (a double, an integer, a date's
// milliseconds: all finite), so that a range from it up to a bound leaves out the nulls and strings
// that jsonb sorts below every number, and is still one range on the field, for its index.
const regstdNumbersFrom = "'-1e309'::jsonb"

// regstdLess narrows `{{k: {{$lt or $lte: v}}}}` with an integer or a date v on a top-level key to the
// numbers up to v, keeping arrays, which may hold a match: a non-empty one sorts above every boolean
// (as objects do). An empty array, which sorts below null, holds no match.
func regstdLess(p *metadata.Placeholder, k string, v any, operator string) (string, []any) {{
	n, ok := regstdBound(k, v)
	if !ok {{
		return "", nil
	}}
	op := "<"
	if operator == "$lte" {{
		op = "<="
	}}
	c := metadata.DefaultColumn
	f := fmt.Sprintf(
		"((%s->'%s' >= %s AND %s->'%s' %s %s) OR %s->'%s' > 'true'::jsonb)",
		c, k, regstdNumbersFrom, c, k, op, p.Next(), c, k,
	)
	return f, []any{{fmt.Sprint(n)}}
}}

// regstdString narrows `{{k: {{$type: "string"}}}}` on a top-level key to the strings, which jsonb
// sorts between null and every number, keeping arrays, which may hold one: one range (and the arrays'
// range) on the field, which its index serves.
func regstdString(k string, v any) string {{
	if alias, ok := v.(string); !ok || alias != "string" {{
		return ""
	}}
	if !regstdPlainKey(k) {{
		return ""
	}}
	c := metadata.DefaultColumn
	return fmt.Sprintf(
		"((%s->'%s' > 'null'::jsonb AND %s->'%s' < %s) OR %s->'%s' > 'true'::jsonb)",
		c, k, c, k, regstdNumbersFrom, c, k,
	)
}}

// regstdGreater narrows `{{k: {{$gt: v}}}}` with an integer or a date v on a top-level key by jsonb
// order: one range, which keeps the larger numbers and every array and object (they sort above
// numbers); the booleans it also keeps never match, and strings and nulls sort below.
func regstdGreater(p *metadata.Placeholder, k string, v any) (string, []any) {{
	n, ok := regstdBound(k, v)
	if !ok {{
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

				case "$type":
					if f := regstdString(rootKey, v); f != "" {
						filters = append(filters, f)
					}

				case "$lt", "$lte":
					if f, a := regstdLess(p, rootKey, v, k); f != "" {
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
    # file: (the function's signature, the statement its body starts with to take its lock)
    "internal/handler/msg_update.go": (
        "func (h *Handler) updateDocument(",
        "\tdefer regstdLock(params.DB, params.Collection)()\n\n",
    ),
    "internal/handler/msg_findandmodify.go": (
        "func (h *Handler) findAndModifyDocument(",
        "\tdefer regstdLock(params.DB, params.Collection)()\n\n",
    ),
}
# execDelete is given the collection, not its name: its one caller, which has the name, takes the lock.
_FERRETDB_DELETE_GO = "internal/handler/msg_delete.go"
_FERRETDB_DELETE_CALL = "\t\td, err = h.execDelete(connCtx, c, &p)\n"
_FERRETDB_DELETE_LOCKED = (
    "\t\tunlock := regstdLock(params.DB, params.Collection)\n" + _FERRETDB_DELETE_CALL + "\t\tunlock()\n"
)
_FERRETDB_RESOURCE_GO = "internal/util/resource/resource.go"
_FERRETDB_UNTRACKED = {
    "func Track(obj any, token *Token) {\n": "\treturn // regstd: no leak tracking (see ferretdb_patch.py)\n",
    "func Untrack(obj any, token *Token) {\n": "\treturn // regstd: nothing was tracked\n",
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
    _replace_once(src, _FERRETDB_QUERY_GO, _FERRETDB_QUERY_EDITS)
    for relative, (signature, lock) in _FERRETDB_LOCKED_FUNCTIONS.items():
        path = src / relative
        code = path.read_text()
        if code.count(signature) != 1:
            raise StackError(f"cannot patch FerretDB: {relative} no longer has {signature!r}")
        body = code.index(") {\n", code.index(signature)) + len(") {\n")
        path.write_text(code[:body] + lock + code[body:])
    _replace_once(src, _FERRETDB_DELETE_GO, {_FERRETDB_DELETE_CALL: _FERRETDB_DELETE_LOCKED})
    _replace_once(
        src, _FERRETDB_RESOURCE_GO, {start: start + ret for start, ret in _FERRETDB_UNTRACKED.items()}
    )


def _replace_once(src: Path, relative: str, edits: dict[str, str]) -> None:
    """Replace each anchor, which must occur exactly once in the file, by its text."""
    path = src / relative
    code = path.read_text()
    for anchor, replacement in edits.items():
        if code.count(anchor) != 1:
            raise StackError(f"cannot patch FerretDB: {relative} no longer has {anchor!r}")
        code = code.replace(anchor, replacement)
    path.write_text(code)
