// The stock Hydrogen web client, as its own app starts itself (the SDK exports the whole app:
// root view model and view). Nothing here knows about Tocsin: config.json, written next to the
// build by the test, names the homeserver, as a deployment of Hydrogen would.
import { FeatureSet, Platform, RootViewModel, createNavigation, createRouter } from 'hydrogen-view-sdk';
import downloadSandbox from 'hydrogen-view-sdk/download-sandbox.html?url';
import worker from 'hydrogen-view-sdk/main.js?url';
import olmWasm from '@matrix-org/olm/olm.wasm?url';
import olmJs from '@matrix-org/olm/olm.js?url';
import olmLegacyJs from '@matrix-org/olm/olm_legacy.js?url';
import 'hydrogen-view-sdk/theme-element-light.css';

const assetPaths = {
  downloadSandbox,
  worker,
  olm: { wasm: olmWasm, legacyBundle: olmLegacyJs, wasmBundle: olmJs },
  // Copied to the root of the build: it adds the access token to authenticated media requests.
  serviceWorker: 'sw.js',
};

const platform = new Platform({
  container: document.getElementById('app'),
  assetPaths,
  configURL: './config.json',
  options: { development: false },
});
const navigation = createNavigation();
platform.setNavigation(navigation);
await platform.init();
const urlRouter = createRouter({ navigation, history: platform.history });
urlRouter.attach();
const features = await FeatureSet.load(platform.settingsStorage);
await platform.loadOlm();
const vm = new RootViewModel({ platform, urlRouter, navigation, features });
await vm.load();
platform.createAndMountRootView(vm);
