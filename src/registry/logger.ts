// The logging the registry client needs: pino's signature, so a pino logger (or a child
// of it) can be passed as is. Nothing logged here carries a credential or a token.
export interface RegistryLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}
