// Where the photo goes in VR: in front of the head as it was when the session began, level with the
// eyes, turned to face the viewer. Looking up or down at that moment does not tilt the photo.

/**
 * @typedef {{x: number, y: number, z: number}} Vec3
 * @typedef {{x: number, y: number, z: number, w: number}} Quat
 */

export const VR_DISTANCE_M = 2;
export const VR_WIDTH_M = 1.5;

/**
 * The horizontal direction the head looks along (WebXR looks down -z).
 * @param {Quat} q
 * @returns {{x: number, z: number}} unit length
 */
export function horizontalForward(q) {
  // -z rotated by q: minus the rotation matrix's third column.
  const fx = -2 * (q.x * q.z + q.w * q.y);
  const fz = -(1 - 2 * (q.x * q.x + q.y * q.y));
  const length = Math.hypot(fx, fz);
  // Looking straight up or down leaves no horizontal direction: fall back to the space's forward.
  if (length < 1e-6) return { x: 0, z: -1 };
  return { x: fx / length, z: fz / length };
}

/**
 * @param {Vec3} head position at session start
 * @param {Quat} orientation at session start
 * @param {number} [distance] metres
 * @returns {{position: Vec3, yaw: number}} yaw: rotation about +y that turns the plane's +z
 *   (its front, where the depth comes out) towards the head
 */
export function placeInFront(head, orientation, distance = VR_DISTANCE_M) {
  const f = horizontalForward(orientation);
  return {
    position: { x: head.x + f.x * distance, y: head.y, z: head.z + f.z * distance },
    yaw: Math.atan2(-f.x, -f.z),
  };
}

/**
 * The uniform scale that makes a plane `planeWidth` units wide `targetWidth` metres wide.
 * @param {number} planeWidth
 * @param {number} [targetWidth]
 */
export function scaleForWidth(planeWidth, targetWidth = VR_WIDTH_M) {
  if (!(planeWidth > 0)) throw new RangeError(`not a width: ${planeWidth}`);
  return targetWidth / planeWidth;
}

/** @param {Vec3} a @param {Vec3} b */
export function distance(a, b) {
  return Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);
}
