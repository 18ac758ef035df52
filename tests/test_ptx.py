from smbench import ptx

MODULE = """//
.version 9.0
.target sm_121
.address_size 64

.func  (.param .b32 func_retval0) helper(
\t.param .b32 helper_param_0
)
{
\tbad.instruction;
\tret;
}

.extern .func declared_only(.param .b32 x);

.visible .entry good(
\t.param .u64 good_param_0
)
{
\tmov.b32 {%r1, %r2}, %rd1;
\tret;
}

.visible .entry uses_helper(
\t.param .u64 p
)
{
\tcall.uni (retval0), helper, (param0);
\tret;
}

.visible .entry broken(
\t.param .u64 p
)
{
\tmma.sync.whatever;
\tret;
}
"""


def line_of(text: str) -> int:
    return next(i for i, line in enumerate(MODULE.splitlines(), 1) if text in line)


def test_blocks_and_entries():
    names = [(b.kind, b.name) for b in ptx.blocks(MODULE)]
    assert names == [("func", "helper"), ("entry", "good"), ("entry", "uses_helper"), ("entry", "broken")]
    assert ptx.entries(MODULE) == ["good", "uses_helper", "broken"]
    good = next(b for b in ptx.blocks(MODULE) if b.name == "good")
    assert good.first_line == line_of(".entry good") and good.last_line == line_of("mov.b32") + 2


def test_errors_are_charged_to_their_kernel_and_to_callers_of_a_bad_function():
    log = (f"ptxas application ptx input, line {line_of('mma.sync.whatever')}; error   : Not supported\n"
           f"ptxas application ptx input, line {line_of('bad.instruction')}; error   : Unknown instruction\n"
           "ptxas fatal   : Ptx assembly aborted due to errors\n")
    blamed = ptx.attribute_errors(MODULE, log)
    assert set(blamed) == {"broken", "uses_helper"}
    assert "Not supported" in blamed["broken"] and "Unknown instruction" in blamed["uses_helper"]


def test_warnings_and_other_lines_blame_nobody():
    log = f"ptxas application ptx input, line {line_of('mov.b32')}; warning : something\n"
    assert ptx.attribute_errors(MODULE, log) == {}


def test_drop_entries_keeps_the_rest():
    trimmed = ptx.drop_entries(MODULE, {"broken"})
    assert ptx.entries(trimmed) == ["good", "uses_helper"]
    assert "mma.sync.whatever" not in trimmed and ".func  (.param .b32 func_retval0) helper(" in trimmed
    assert ptx.target_of(trimmed) == "sm_121"


def test_a_rejected_function_leaves_with_its_last_caller():
    trimmed = ptx.drop_entries(MODULE, {"uses_helper"})
    assert ptx.entries(trimmed) == ["good", "broken"]
    assert "bad.instruction" not in trimmed and "declared_only" not in trimmed
    kept = ptx.drop_entries(MODULE, {"broken"})
    assert "bad.instruction" in kept  # uses_helper still calls it


def test_prototypes_are_blocks_without_body():
    protos = [b for b in ptx.blocks(MODULE, prototypes=True) if not b.has_body]
    assert [b.name for b in protos] == ["declared_only"]
