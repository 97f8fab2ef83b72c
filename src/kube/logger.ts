// The control loop logs through the one Logger type of the project (src/logger.ts).
export { type Logger, silentLogger, withFields } from '../logger.js';
