/** Finds an enum value by kernel name, name without prefix (any case, `_` optional), or CamelCase key. */
export function enumFromName(names: ReadonlyMap<number, string>, prefix: string, name: string): number | undefined {
  const norm = (s: string) => s.toUpperCase().replace(/_/g, '');
  const wanted = norm(name.startsWith(prefix) || name.startsWith(prefix.toLowerCase()) ? name.slice(prefix.length) : name);
  for (const [value, full] of names) {
    if (norm(full.slice(prefix.length)) === wanted) return value;
  }
  return undefined;
}
