using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>CI runs the suite again with -p:DebugVm=true and EXPECT_DEBUG_VM=1: prove the flag reached the fault path too.</summary>
public sealed class BuildFlavourTests
{
    [Fact]
    public void The_build_flavour_is_the_one_the_runner_asked_for()
    {
        string? expected = System.Environment.GetEnvironmentVariable("EXPECT_DEBUG_VM");
        Assert.Equal(expected == "1", DebugVm.Enabled);
    }
}
