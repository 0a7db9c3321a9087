"""Derive the two USD files Isaac-Cartpole-Direct loads at run time from what the isaaclab 3.0.0 wheel ships.

A box with no network cannot fetch Isaac's assets (isaaclab/utils/assets.py: ISAACSIM_ASSET_ROOT, default
NVIDIA's S3 bucket). These are DERIVED stand-ins, not NVIDIA's files; results made with them say so:

- the robot, `Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd`: env_0's Robot subtree of the wheel's
  golden test stage (isaaclab/source/isaaclab_tasks/test/golden_stages/cartpole/newton-isaacsim_rtx_renderer-
  rgb.usda: the stage as Isaac Lab spawned the real cartpole: bodies, joints, masses, limits), made the
  default prim, with the instanced prototype shapes it references; materials dropped (nothing renders);
- the ground plane, `Isaac/IsaacLab/Environments/Grid/default_ground_plane_checker_v1/default_ground_plane.usda`:
  what spawn_ground_plane touches (isaaclab/sim/spawners/from_files/from_files.py:274-310 in the wheel):
  `<default prim>/Environment` with an `xformOp:scale`, a mesh `Environment/Geometry` with a `primvars:st`,
  a `Plane` prim with a collision API. Its shape is a guess; only those prims are known to be read.

Usage (a Python 3.12 with usd-core): python derive_il3_assets.py ISAACLAB_WHEEL OUT_ROOT
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

GOLDEN = "isaaclab/source/isaaclab_tasks/test/golden_stages/cartpole/newton-isaacsim_rtx_renderer-rgb.usda"
ROBOT = "Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd"
GROUND = "Isaac/IsaacLab/Environments/Grid/default_ground_plane_checker_v1/default_ground_plane.usda"


def robot(golden: Path, out: Path) -> None:
    """env_0's Robot as the default prim /cartpole, with the prototypes its shapes reference."""
    from pxr import Sdf, Usd

    src = Sdf.Layer.FindOrOpen(str(golden))
    dst = Sdf.Layer.CreateNew(str(out))
    for spec in src.rootPrims:
        if spec.name.startswith("Flattened_Prototype_"):
            Sdf.CopySpec(src, spec.path, dst, spec.path)
            proto = dst.GetPrimAtPath(spec.path)
            if "Looks" in proto.nameChildren:
                del proto.nameChildren["Looks"]
            for child in proto.nameChildren:
                if "material:binding" in child.properties:
                    child.RemoveProperty(child.properties["material:binding"])
    # CopySpec remaps relationship targets inside the copied subtree (joint bodies) to the new root
    Sdf.CopySpec(src, Sdf.Path("/World/envs/env_0/Robot"), dst, Sdf.Path("/cartpole"))
    dst.defaultPrim = "cartpole"
    root = dst.GetPrimAtPath("/cartpole")
    root.attributes["xformOp:translate"].default = (0.0, 0.0, 0.0)  # the spawner places it (init_state)
    dst.pseudoRoot.SetInfo("upAxis", "Z")
    dst.pseudoRoot.SetInfo("metersPerUnit", 1.0)
    dst.pseudoRoot.SetInfo("kilogramsPerUnit", 1.0)
    dst.documentation = "lambdabench: DERIVED from isaaclab 3.0.0's golden test stage " + GOLDEN
    dst.Save()
    stage = Usd.Stage.Open(str(out))
    bodies = [p.GetName() for p in stage.Traverse() if p.HasAPI("PhysicsRigidBodyAPI")]
    assert bodies == ["slider", "cart", "pole"], bodies


def ground(out: Path) -> None:
    """The prims spawn_ground_plane reads: Environment (scaled), Environment/Geometry (st), a collision Plane."""
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdPhysics, UsdShade

    stage = Usd.Stage.CreateNew(str(out))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    root = UsdGeom.Xform.Define(stage, "/GroundPlane")
    stage.SetDefaultPrim(root.GetPrim())
    env = UsdGeom.Xform.Define(stage, "/GroundPlane/Environment")
    env.AddScaleOp().Set(Gf.Vec3d(1.0, 1.0, 1.0))
    mesh = UsdGeom.Mesh.Define(stage, "/GroundPlane/Environment/Geometry")
    half = 50.0  # 100 m at scale 1 (GroundPlaneCfg.size / 100 is the scale the spawner writes)
    mesh.CreatePointsAttr([(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)])
    mesh.CreateFaceVertexCountsAttr([4])
    mesh.CreateFaceVertexIndicesAttr([0, 1, 2, 3])
    mesh.CreateNormalsAttr([(0, 0, 1)] * 4)
    mesh.CreateExtentAttr([(-half, -half, 0), (half, half, 0)])
    UsdGeom.PrimvarsAPI(mesh).CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex).Set(
        [(0, 0), (1, 0), (1, 1), (0, 1)]
    )
    plane = UsdGeom.Plane.Define(stage, "/GroundPlane/CollisionPlane")
    plane.CreateAxisAttr(UsdGeom.Tokens.z)
    plane.CreatePurposeAttr(UsdGeom.Tokens.guide)
    UsdPhysics.CollisionAPI.Apply(plane.GetPrim())
    UsdShade.Shader.Define(stage, "/GroundPlane/Looks/theGrid/Shader")  # the color tint's target, if any
    stage.GetRootLayer().documentation = (
        "lambdabench: DERIVED stand-in for Isaac's default ground plane "
        "(the prims isaaclab 3.0.0's spawn_ground_plane reads)"
    )
    stage.Save()


def main(argv: list[str]) -> int:
    wheel, root = Path(argv[0]), Path(argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as zf:
            golden = Path(zf.extract(GOLDEN, tmp))
        (root / ROBOT).parent.mkdir(parents=True, exist_ok=True)
        robot(golden, root / ROBOT)
    (root / GROUND).parent.mkdir(parents=True, exist_ok=True)
    ground(root / GROUND)
    for rel in (ROBOT, GROUND):
        print(rel, (root / rel).stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
