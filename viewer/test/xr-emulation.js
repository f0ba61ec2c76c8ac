// TEST ONLY, never served: bundled by build.mjs into build-test/xr-emulation.js, which the browser
// tests inject with Playwright's add_init_script before the page's own scripts run. It replaces
// navigator.xr with Meta's emulated Quest 3, so "ENTER VR" and a whole session run headless.
import { XRDevice, metaQuest3 } from "iwer";

const device = new XRDevice(metaQuest3);
// Chromium has a navigator.xr of its own (with no headset behind it), which iwer 2.5 would leave in
// place without forceInstall.
device.installRuntime({ forceInstall: true });
window.__xrDevice = device;
