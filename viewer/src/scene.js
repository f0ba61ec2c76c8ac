// The 3D photo: a finely divided plane whose vertices the depth map pushes towards the viewer (near
// is bright), coloured by the photo. On screen it is drawn only when something changes; in VR it is
// drawn every frame, placed in front of the viewer.
import {
  Color,
  LinearFilter,
  LinearMipmapLinearFilter,
  Mesh,
  NoColorSpace,
  PerspectiveCamera,
  PlaneGeometry,
  SRGBColorSpace,
  Scene,
  ShaderMaterial,
  Texture,
  Vector3,
  WebGLRenderer,
} from "three";
import { VRButton } from "three/examples/jsm/webxr/VRButton.js";
import { gridSegments } from "./textures.js";
import { VR_DISTANCE_M, VR_WIDTH_M, distance, placeInFront, scaleForWidth } from "./placement.js";

const vertexShader = /* glsl */ `
uniform sampler2D depthMap;
uniform float strength;
varying vec2 vUv;
void main() {
  // Images are uploaded top row first (flipY off, as ImageBitmaps require), the plane's v runs up.
  vUv = vec2(uv.x, 1.0 - uv.y);
  vec3 displaced = position;
  displaced.z += texture2D(depthMap, vUv).r * strength;
  gl_Position = projectionMatrix * modelViewMatrix * vec4(displaced, 1.0);
}
`;

const fragmentShader = /* glsl */ `
uniform sampler2D photo;
varying vec2 vUv;
void main() {
  gl_FragColor = texture2D(photo, vUv);
  #include <colorspace_fragment>
}
`;

const FOV = 40;
/** How far the camera swings for parallax, as a fraction of its distance. */
const PARALLAX = 0.12;
/** Room left in front of the photo for the largest displacement the strength control allows. The
 * camera keeps its place at every strength, so that the strength changes the depth and nothing else. */
const DEPTH_ROOM = 0.5;

/**
 * @typedef {ImageBitmap | HTMLCanvasElement | OffscreenCanvas} ImageSource
 * @typedef {{source: ImageSource, width: number, height: number}} Decoded
 */

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{vrHost: HTMLElement, onXRError?: (error: unknown) => void}} options
 */
export function createScene(canvas, { vrHost }) {
  const renderer = new WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true, alpha: false });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  renderer.outputColorSpace = SRGBColorSpace;
  renderer.xr.enabled = true;
  renderer.xr.setReferenceSpaceType("local-floor");

  const scene = new Scene();
  scene.background = new Color(0x000000);
  const camera = new PerspectiveCamera(FOV, 1, 0.01, 100);

  const uniforms = {
    photo: { value: /** @type {Texture | null} */ (null) },
    depthMap: { value: /** @type {Texture | null} */ (null) },
    strength: { value: 0.35 },
  };
  const material = new ShaderMaterial({ uniforms, vertexShader, fragmentShader });
  const mesh = new Mesh(new PlaneGeometry(1, 1, 1, 1), material);
  mesh.visible = false;
  scene.add(mesh);

  /** @type {string | null} the version whose textures the mesh carries */
  let meshVersion = null;
  let aspect = 1;
  const parallax = { x: 0, y: 0 };
  let frameRequested = 0;
  let active = false;

  // VR state: the head at the session's start decides where the photo stays for the session.
  /** @type {{x: number, y: number, z: number} | null} */
  let xrHead = null;
  /** @type {{x: number, y: number, z: number, w: number} | null} */
  let xrOrientation = null;
  let xrFrames = 0;

  const vrButton = VRButton.createButton(renderer);
  vrHost.append(vrButton);

  function fitCamera() {
    const w = canvas.clientWidth || 1;
    const h = canvas.clientHeight || 1;
    camera.aspect = w / h;
    const halfTan = Math.tan((FOV * Math.PI) / 360);
    // Far enough that the whole photo shows with a margin, whichever side is the tighter fit.
    const fitHeight = (0.5 * 1.08) / halfTan;
    const fitWidth = (0.5 * aspect * 1.08) / (halfTan * camera.aspect);
    const dist = Math.max(fitHeight, fitWidth) + DEPTH_ROOM;
    const swing = dist * PARALLAX;
    camera.position.set(parallax.x * swing, -parallax.y * swing, dist);
    camera.lookAt(0, 0, 0);
    camera.updateProjectionMatrix();
  }

  function resize() {
    if (renderer.xr.isPresenting) return;
    const w = Math.max(1, Math.round(canvas.clientWidth));
    const h = Math.max(1, Math.round(canvas.clientHeight));
    renderer.setSize(w, h, false);
    requestRender();
  }

  function afterFrame() {
    if (meshVersion) {
      canvas.dataset.version = meshVersion;
      canvas.dataset.state = "rendered";
    }
    canvas.dataset.strength = String(uniforms.strength.value);
  }

  function renderNow() {
    frameRequested = 0;
    if (renderer.xr.isPresenting) return;
    fitCamera();
    renderer.render(scene, camera);
    afterFrame();
  }

  function requestRender() {
    if (renderer.xr.isPresenting || frameRequested) return;
    frameRequested = requestAnimationFrame(renderNow);
  }

  function placeForVR() {
    if (!xrHead || !xrOrientation) return;
    const { position, yaw } = placeInFront(xrHead, xrOrientation, VR_DISTANCE_M);
    const width = /** @type {PlaneGeometry} */ (mesh.geometry).parameters.width;
    mesh.position.set(position.x, position.y, position.z);
    mesh.rotation.set(0, yaw, 0);
    mesh.scale.setScalar(scaleForWidth(width, VR_WIDTH_M));
    mesh.updateMatrixWorld();
    const centre = mesh.getWorldPosition(new Vector3());
    canvas.dataset.xrDistance = distance(xrHead, centre).toFixed(2);
    canvas.dataset.xrWidth = (width * mesh.scale.x).toFixed(2);
  }

  function placeForScreen() {
    mesh.position.set(0, 0, 0);
    mesh.rotation.set(0, 0, 0);
    mesh.scale.setScalar(1);
  }

  /**
   * @param {number} _time
   * @param {XRFrame} [frame]
   */
  function onXRFrame(_time, frame) {
    if (!xrHead && frame) {
      const space = renderer.xr.getReferenceSpace();
      const pose = space ? frame.getViewerPose(space) : undefined;
      if (pose) {
        const { position: p, orientation: o } = pose.transform;
        xrHead = { x: p.x, y: p.y, z: p.z };
        xrOrientation = { x: o.x, y: o.y, z: o.z, w: o.w };
        placeForVR();
      }
    }
    renderer.render(scene, camera);
    xrFrames += 1;
    canvas.dataset.xrFrames = String(xrFrames);
    afterFrame();
  }

  renderer.xr.addEventListener("sessionstart", () => {
    xrHead = null;
    xrOrientation = null;
    xrFrames = 0;
    canvas.dataset.xrPresenting = "true";
    canvas.dataset.xrFrames = "0";
    if (frameRequested) cancelAnimationFrame(frameRequested);
    frameRequested = 0;
    renderer.setAnimationLoop(onXRFrame);
  });

  renderer.xr.addEventListener("sessionend", () => {
    renderer.setAnimationLoop(null);
    canvas.dataset.xrPresenting = "false";
    xrHead = null;
    xrOrientation = null;
    placeForScreen();
    resize();
  });

  /** @param {PointerEvent} event */
  function onPointerMove(event) {
    const rect = canvas.getBoundingClientRect();
    if (!rect.width || !rect.height) return;
    setParallax(((event.clientX - rect.left) / rect.width) * 2 - 1, ((event.clientY - rect.top) / rect.height) * 2 - 1);
  }

  function onPointerLeave() {
    setParallax(0, 0);
  }

  /** @type {{beta: number, gamma: number} | null} */
  let tiltStart = null;
  /** @param {DeviceOrientationEvent} event */
  function onOrientation(event) {
    if (event.beta === null || event.gamma === null) return;
    // Relative to how the device was held when the view opened: any holding angle is "centre".
    tiltStart ??= { beta: event.beta, gamma: event.gamma };
    setParallax((event.gamma - tiltStart.gamma) / 25, (event.beta - tiltStart.beta) / 25);
  }

  /** @param {KeyboardEvent} event */
  function onKey(event) {
    const step = 0.15;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = /** @type {Record<string, number[]>} */ (moves)[event.key];
    if (move) {
      event.preventDefault();
      setParallax(parallax.x + move[0], parallax.y + move[1]);
    } else if (event.key === "Home" || event.key === "0") {
      event.preventDefault();
      setParallax(0, 0);
    }
  }

  /** @param {number} x @param {number} y each -1 to 1 */
  function setParallax(x, y) {
    const clamp = (/** @type {number} */ v) => Math.max(-1, Math.min(1, v));
    parallax.x = clamp(x);
    parallax.y = clamp(y);
    requestRender();
  }

  const resizeObserver = new ResizeObserver(() => resize());
  resizeObserver.observe(canvas);

  function disposeTextures() {
    for (const key of /** @type {const} */ (["photo", "depthMap"])) {
      const texture = uniforms[key].value;
      if (!texture) continue;
      texture.dispose();
      const image = /** @type {{close?: () => void}} */ (texture.image);
      image?.close?.();
      uniforms[key].value = null;
    }
  }

  return {
    renderer,
    vrButton,
    get maxTextureSize() {
      return renderer.capabilities.maxTextureSize;
    },
    get isPresenting() {
      return renderer.xr.isPresenting;
    },
    /** @returns {string | null} */
    get version() {
      return meshVersion;
    },
    /**
     * Shows a version: its photo and its depth map, the same size. The next frame drawn says so on
     * the canvas (data-version, data-state="rendered").
     * @param {Decoded} photo
     * @param {Decoded} depth
     * @param {string} version
     */
    setImages(photo, depth, version) {
      disposeTextures();
      const photoTexture = new Texture(/** @type {any} */ (photo.source));
      photoTexture.colorSpace = SRGBColorSpace;
      photoTexture.flipY = false;
      photoTexture.minFilter = LinearMipmapLinearFilter;
      photoTexture.magFilter = LinearFilter;
      photoTexture.generateMipmaps = true;
      photoTexture.anisotropy = Math.min(8, renderer.capabilities.getMaxAnisotropy());
      photoTexture.needsUpdate = true;
      const depthTexture = new Texture(/** @type {any} */ (depth.source));
      depthTexture.colorSpace = NoColorSpace;
      depthTexture.flipY = false;
      depthTexture.minFilter = LinearFilter;
      depthTexture.magFilter = LinearFilter;
      depthTexture.generateMipmaps = false;
      depthTexture.needsUpdate = true;
      uniforms.photo.value = photoTexture;
      uniforms.depthMap.value = depthTexture;

      aspect = photo.width / photo.height;
      const segments = gridSegments(depth.width, depth.height);
      const old = mesh.geometry;
      mesh.geometry = new PlaneGeometry(aspect, 1, segments.x, segments.y);
      old.dispose();
      mesh.visible = true;
      meshVersion = version;
      if (renderer.xr.isPresenting) placeForVR();
      requestRender();
    },
    /** @param {number} value 0 is flat */
    setStrength(value) {
      uniforms.strength.value = value;
      requestRender();
    },
    /** Drops the photo: nothing is shown until the next setImages. */
    clear() {
      disposeTextures();
      mesh.visible = false;
      meshVersion = null;
      delete canvas.dataset.version;
      requestRender();
    },
    /** Listens to the pointer, the keyboard and the device's tilt only while the view is open. */
    setActive(/** @type {boolean} */ on) {
      if (on === active) return;
      active = on;
      const method = on ? "addEventListener" : "removeEventListener";
      canvas[method]("pointermove", /** @type {EventListener} */ (onPointerMove));
      canvas[method]("pointerleave", onPointerLeave);
      canvas[method]("keydown", /** @type {EventListener} */ (onKey));
      window[method]("deviceorientation", /** @type {EventListener} */ (onOrientation));
      tiltStart = null;
      parallax.x = 0;
      parallax.y = 0;
      if (on) resize();
    },
    async endXR() {
      await renderer.xr.getSession()?.end();
    },
    requestRender,
  };
}

/** @typedef {ReturnType<typeof createScene>} DepthScene */
