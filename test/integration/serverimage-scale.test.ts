// Many images at once, and what one image costs the API server, on the simulator
// (cases: serverimage-scale-cases.ts).
import { SCALE_FLAGS, scaleCases } from './serverimage-scale-cases.js';
import { serverImageTestFile } from './serverimage-fixtures.js';

scaleCases(serverImageTestFile({ operatorFlags: SCALE_FLAGS }), { images: 20, maxWrites: 40 });
