/**
 * A value computed by the first call that needs it. Tests compute their solvers' answers this way rather than
 * while the file is collected: a mutation run collects each file once per mutant, and credits a test only with
 * the code it runs itself.
 */
export const once = <T>(f: () => T) => {
  let v: { value: T } | undefined;
  return () => (v ??= { value: f() }).value;
};
