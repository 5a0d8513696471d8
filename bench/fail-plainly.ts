// Imported first by every bench: a failure is one line on stderr and exit 1, never a stack trace
// (FLEXC_DEBUG=1 shows it).
const fail = (e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  if (process.env['FLEXC_DEBUG'] && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
