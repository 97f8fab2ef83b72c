// Restart safety on the simulator (cases: serverimage-restart-cases.ts): SIGKILL during
// Saving, a kill while retrying, and a leader hand-over between two operator processes.
import { restartCases } from './serverimage-restart-cases.js';
import { serverImageTestFile } from './serverimage-fixtures.js';

restartCases(serverImageTestFile({ namespace: 'si-restart', operatorFlags: null }));
