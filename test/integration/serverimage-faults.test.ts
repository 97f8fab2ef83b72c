// Faults on the way from a VM to an image, on the simulator (cases: serverimage-faults-cases.ts).
import { serverImageTestFile } from './serverimage-fixtures.js';
import { faultCases } from './serverimage-faults-cases.js';

faultCases(serverImageTestFile({ namespace: 'si-faults' }));
