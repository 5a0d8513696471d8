/** Exit codes: 0 success, 1 errors in the user's input, 2 bad command-line usage, 3 a bug in flexc. */
export const EXIT = { ok: 0, user: 1, usage: 2, internal: 3 } as const;
