import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { distance, horizontalForward, placeInFront, scaleForWidth } from "../src/placement.js";

const close = (a, b, msg) => assert.ok(Math.abs(a - b) < 1e-9, `${msg}: ${a} is not ${b}`);
const identity = { x: 0, y: 0, z: 0, w: 1 };
/** @param {number} axisX @param {number} axisY @param {number} axisZ @param {number} angle */
const rotation = (axisX, axisY, axisZ, angle) => {
  const s = Math.sin(angle / 2);
  return { x: axisX * s, y: axisY * s, z: axisZ * s, w: Math.cos(angle / 2) };
};

describe("placing the photo in VR", () => {
  it("puts it 2 m in front of the head, at eye height, facing the viewer", () => {
    const head = { x: 0, y: 1.6, z: 0 };
    const { position, yaw } = placeInFront(head, identity);
    close(position.x, 0, "x");
    close(position.y, 1.6, "y");
    close(position.z, -2, "z");
    close(yaw, 0, "yaw: +z already faces the head");
    close(distance(head, position), 2, "distance");
  });

  it("follows the direction the head looks in", () => {
    const head = { x: 1, y: 1.5, z: 1 };
    const turnedLeft = rotation(0, 1, 0, Math.PI / 2); // looking along -x
    const { position, yaw } = placeInFront(head, turnedLeft, 2);
    close(position.x, -1, "x");
    close(position.z, 1, "z");
    close(yaw, Math.PI / 2, "yaw turns +z towards +x, back to the head");
  });

  it("stays level when the head looks down", () => {
    const down = rotation(1, 0, 0, -Math.PI / 6);
    const { position } = placeInFront({ x: 0, y: 1.7, z: 0 }, down);
    close(position.y, 1.7, "eye height");
    close(position.z, -2, "still 2 m away");
  });

  it("falls back to straight ahead when the head looks straight down", () => {
    const f = horizontalForward(rotation(1, 0, 0, -Math.PI / 2));
    close(f.x, 0, "x");
    close(f.z, -1, "z");
  });

  it("scales the plane to 1.5 m wide", () => {
    close(scaleForWidth(1.5), 1, "already 1.5");
    close(scaleForWidth(0.75), 2, "twice");
    assert.throws(() => scaleForWidth(0), RangeError);
  });
});
