"""The SQL the SQLite store runs, built from the document-storage port's filters and specs.

Only names `checked_name` accepts are interpolated; every value is a bound parameter. Field
expressions are the very ones the indexes are made of (`create_index`), because SQLite only uses an
expression index when the query repeats the indexed expression.
"""

from __future__ import annotations

from collections.abc import Mapping

from integrations.stores.documents import (
    Condition,
    Filter,
    Gt,
    In,
    IndexSpec,
    Lte,
    Scalar,
    check_assignable,
    checked_name,
    range_value,
)

__all__ = [
    "SqlParam",
    "compile_claim",
    "compile_count",
    "compile_delete",
    "compile_find",
    "compile_update",
    "create_index",
    "table_name",
]

SqlParam = str | int | float | None


def table_name(collection: str) -> str:
    return f'"{checked_name(collection, "collection")}"'


def field_expr(field: str) -> str:
    # `id` is the primary-key column itself, so filters, ordering and index
    # tails on it use the column rather than re-parsing the JSON.
    if checked_name(field, "field") == "id":
        return "id"
    return f"json_extract(doc, '$.{field}')"


def _param(value: Scalar) -> SqlParam:
    # json_extract yields 1/0 for JSON true/false; Python's sqlite3 binds a
    # bool as that integer too, but converting explicitly makes it visible.
    if isinstance(value, bool):
        return int(value)
    return value


def _condition_sql(field: str, condition: Condition, params: list[SqlParam]) -> str:
    expr = field_expr(field)
    if isinstance(condition, In):
        present = [v for v in condition.values if v is not None]
        parts: list[str] = []
        if present:
            parts.append(f"{expr} IN ({', '.join('?' for _ in present)})")
            params.extend(_param(v) for v in present)
        if len(present) != len(condition.values):
            # SQL's IN never matches NULL; a None in the set means "missing or null".
            parts.append(f"{expr} IS NULL")
        if not parts:
            return "0"  # an empty set matches nothing
        return parts[0] if len(parts) == 1 else f"({' OR '.join(parts)})"
    if isinstance(condition, Lte | Gt):
        params.append(_param(range_value(field, condition)))
        return f"{expr} {'<=' if isinstance(condition, Lte) else '>'} ?"
    if condition is None:
        return f"{expr} IS NULL"
    params.append(_param(condition))
    return f"{expr} = ?"


def _where(where: Filter, params: list[SqlParam]) -> str:
    """` WHERE ...` with every condition of `where` (appending their values to `params`), or ""."""
    clauses = [_condition_sql(field, condition, params) for field, condition in where.items()]
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def compile_find(
    collection: str,
    where: Filter,
    *,
    limit: int,
    after_id: str | None = None,
    order_by: str = "id",
    descending: bool = False,
) -> tuple[str, list[SqlParam]]:
    """The SELECT behind `DocumentSession.find` (public so tests can EXPLAIN it)."""
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    table = table_name(collection)
    params: list[SqlParam] = []
    clauses = [_condition_sql(field, condition, params) for field, condition in where.items()]
    if after_id is not None:
        clauses.append("id < ?" if descending else "id > ?")
        params.append(after_id)
    order_expr = field_expr(order_by)
    direction = " DESC" if descending else ""
    order = f"id{direction}" if order_expr == "id" else f"{order_expr}{direction}, id{direction}"
    where_sql = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    # Only validated identifiers are interpolated; every value is a bound parameter.
    sql = f"SELECT doc FROM {table}{where_sql} ORDER BY {order} LIMIT ?"  # noqa: S608
    return sql, params


def compile_count(collection: str, where: Filter) -> tuple[str, list[SqlParam]]:
    params: list[SqlParam] = []
    where_sql = _where(where, params)
    # With the filter on an index's leading expressions, SQLite counts that index's entries
    # and never reads a document (its seek into the table is deferred, then not needed).
    return f"SELECT count(*) FROM {table_name(collection)}{where_sql}", params  # noqa: S608 - validated names


def compile_update(
    collection: str, where: Filter, assign: Mapping[str, Scalar]
) -> tuple[str, list[SqlParam]]:
    params: list[SqlParam] = []
    setter = _assignments(assign, params)
    where_sql = _where(where, params)
    return f"UPDATE {table_name(collection)} SET doc = {setter}{where_sql}", params  # noqa: S608 - validated names


def _assignments(assign: Mapping[str, Scalar], params: list[SqlParam]) -> str:
    """`json_set(doc, ...)` arguments that set each field and bump the version."""
    check_assignable(assign)
    parts = []
    for field, value in assign.items():
        if isinstance(value, bool):
            # A bound bool would become the number 1/0 inside the JSON document.
            parts.append(f"'$.{field}', json(?)")
            params.append("true" if value else "false")
        else:
            parts.append(f"'$.{field}', ?")
            params.append(value)
    parts.append("'$.version', json_extract(doc, '$.version') + 1")
    return f"json_set(doc, {', '.join(parts)})"


def compile_claim(
    collection: str, where: Filter, *, order_by: str, limit: int, assign: Mapping[str, Scalar]
) -> tuple[str, list[SqlParam]]:
    """One UPDATE ... RETURNING that picks and changes the documents: atomic by itself."""
    params: list[SqlParam] = []
    setter = _assignments(assign, params)
    pick, pick_params = compile_find(collection, where, limit=limit, order_by=order_by)
    table = table_name(collection)
    pick_ids = pick.replace("SELECT doc FROM", "SELECT id FROM", 1)
    # Only validated identifiers are interpolated; every value is a bound parameter.
    sql = f"UPDATE {table} SET doc = {setter} WHERE id IN ({pick_ids}) RETURNING doc"  # noqa: S608
    return sql, [*params, *pick_params]


def compile_delete(
    collection: str, where: Filter, *, order_by: str, limit: int
) -> tuple[str, list[SqlParam]]:
    """One DELETE that picks the first `limit` matching documents and removes them: atomic by itself."""
    pick, params = compile_find(collection, where, limit=limit, order_by=order_by)
    pick_ids = pick.replace("SELECT doc FROM", "SELECT id FROM", 1)
    # Only validated identifiers are interpolated; every value is a bound parameter.
    sql = f"DELETE FROM {table_name(collection)} WHERE id IN ({pick_ids})"  # noqa: S608
    return sql, params


def create_index(table: str, spec: IndexSpec) -> str:
    name = checked_name(spec.name, "index")
    if not spec.fields:
        raise ValueError(f"index {name!r} has no fields")
    unique = "UNIQUE " if spec.unique else ""
    columns = ", ".join(field_expr(field) for field in spec.fields)
    # A partial index: SQLite uses it for a query whose condition on that field implies it
    # (a range or an equality with a value), and never adds a row whose field is null.
    where = f" WHERE {field_expr(spec.fields[0])} IS NOT NULL" if spec.sparse else ""
    return f'CREATE {unique}INDEX IF NOT EXISTS "{name}" ON {table} ({columns}){where}'
