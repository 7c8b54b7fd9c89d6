/**
 * SQL written once for both databases uses SQLite's named parameters (`@name`); pg takes
 * positional ones (`$1`). `named` turns such SQL into pg's form once, and `bind` the values of a
 * call into their positions, so the statement text is not copied per database.
 */
export interface NamedStatement<P extends object> {
  readonly text: string;
  bind(params: P): unknown[];
}

export function named<P extends object>(sql: string): NamedStatement<P> {
  const names: string[] = [];
  // Statement text from the store's own constants: `@` appears only before a parameter's name.
  const text = sql.replace(/@([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    let at = names.indexOf(name);
    if (at < 0) at = names.push(name) - 1;
    return `$${at + 1}`;
  });
  return {
    text,
    bind(params) {
      const values = params as Record<string, unknown>;
      return names.map((name) => {
        if (!(name in values)) throw new Error(`no value for @${name}`);
        return values[name];
      });
    },
  };
}
