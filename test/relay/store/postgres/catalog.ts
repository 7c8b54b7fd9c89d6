import type Database from 'better-sqlite3';
import type pg from 'pg';

/**
 * A schema as both databases can describe it, in terms they share: tables, columns (nullability,
 * default, the kind of value), primary keys, unique columns, foreign keys and named indexes. Read
 * from each database's own catalog, so the comparison sees what was built, not what was meant.
 */
export interface Catalog {
  columns: Record<string, string[]>;
  primaryKeys: Record<string, string>;
  unique: string[];
  foreignKeys: string[];
  indexes: string[];
}

/** What a value of a column is, across the two: SQLite's INTEGER may be PostgreSQL's integer or bigint. */
const KINDS: Record<string, string> = {
  INTEGER: 'integer',
  bigint: 'integer',
  integer: 'integer',
  TEXT: 'text',
  text: 'text',
  // The store's time text in SQLite (time.ts).
  'timestamp with time zone': 'text',
};

const kindOf = (type: string): string => KINDS[type] ?? `unknown type ${type}`;
/** '[]'::text and '[]' are the same default. */
const defaultOf = (value: string | null): string => (value === null ? 'none' : value.replace(/::[a-z ]+$/, ''));
/** A partial index's condition, reduced to the values it names (the spelling differs). */
const literalsOf = (predicate: string | null): string => (predicate === null ? '' : ` where ${[...predicate.matchAll(/'([^']*)'/g)].map((m) => m[1]).sort().join('|')}`);

function grouped(rows: Array<[string, string]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [table, entry] of rows) (out[table] ??= []).push(entry);
  for (const list of Object.values(out)) list.sort();
  return out;
}

export function sqliteCatalog(db: Database.Database): Catalog {
  const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all().map((t) => t.name);
  const columns: Array<[string, string]> = [];
  const primaryKeys: Record<string, string> = {};
  const unique: string[] = [];
  const foreignKeys: string[] = [];
  const indexes: string[] = [];
  for (const table of tables) {
    const info = db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>;
    for (const c of info) columns.push([table, `${c.name} ${kindOf(c.type)} ${c.notnull || c.pk ? 'not null' : 'null'} default ${defaultOf(c.dflt_value)}`]);
    primaryKeys[table] = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name).join(',');
    const fks = db.prepare(`PRAGMA foreign_key_list(${table})`).all() as Array<{ table: string; from: string; to: string; on_delete: string }>;
    for (const fk of fks) foreignKeys.push(`${table}.${fk.from} → ${fk.table}.${fk.to} on delete ${fk.on_delete.toLowerCase()}`);
    const list = db.prepare(`PRAGMA index_list(${table})`).all() as Array<{ name: string; unique: number; origin: string; partial: number }>;
    for (const index of list) {
      const cols = (db.prepare(`PRAGMA index_info(${index.name})`).all() as Array<{ name: string }>).map((c) => c.name).join(',');
      if (index.origin === 'u') unique.push(`${table}(${cols})`);
      if (index.origin !== 'c') continue;
      const sql = (db.prepare<[string], { sql: string }>('SELECT sql FROM sqlite_schema WHERE name = ?').get(index.name)?.sql ?? '');
      const where = index.partial ? sql.slice(sql.toUpperCase().lastIndexOf(' WHERE ')) : null;
      indexes.push(`${index.name} on ${table}(${cols})${index.unique ? ' unique' : ''}${literalsOf(where)}`);
    }
  }
  return { columns: grouped(columns), primaryKeys, unique: unique.sort(), foreignKeys: foreignKeys.sort(), indexes: indexes.sort() };
}

export async function pgCatalog(db: pg.ClientBase | pg.Pool): Promise<Catalog> {
  const cols = await db.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null; is_identity: string }>(
    `SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity
     FROM information_schema.columns WHERE table_schema = 'public'`,
  );
  const columns = cols.rows.map((c): [string, string] => [
    c.table_name,
    `${c.column_name} ${kindOf(c.data_type)} ${c.is_nullable === 'NO' ? 'not null' : 'null'} default ${c.is_identity === 'YES' ? 'none' : defaultOf(c.column_default)}`,
  ]);
  const idx = await db.query<{ table: string; name: string; unique: boolean; primary: boolean; constraint: boolean; predicate: string | null; columns: string[] }>(
    `SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique, x.indisprimary AS primary,
            EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) AS constraint,
            pg_get_expr(x.indpred, x.indrelid) AS predicate,
            array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(n, o)
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o) AS columns
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
     WHERE t.relnamespace = 'public'::regnamespace`,
  );
  const primaryKeys: Record<string, string> = {};
  for (const table of new Set(columns.map(([t]) => t))) primaryKeys[table] = '';
  const unique: string[] = [];
  const indexes: string[] = [];
  for (const i of idx.rows) {
    if (i.primary) primaryKeys[i.table] = i.columns.join(',');
    else if (i.constraint) unique.push(`${i.table}(${i.columns.join(',')})`);
    else indexes.push(`${i.name} on ${i.table}(${i.columns.join(',')})${i.unique ? ' unique' : ''}${literalsOf(i.predicate)}`);
  }
  const fks = await db.query<{ line: string }>(
    `SELECT c.conrelid::regclass::text || '.' || a.attname || ' → ' || c.confrelid::regclass::text || '.' || af.attname
            || ' on delete ' || CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'a' THEN 'no action' ELSE c.confdeltype::text END AS line
     FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(col, fcol)
     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col
     JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = k.fcol
     WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace`,
  );
  return { columns: grouped(columns), primaryKeys, unique: unique.sort(), foreignKeys: fks.rows.map((r) => r.line).sort(), indexes: indexes.sort() };
}
