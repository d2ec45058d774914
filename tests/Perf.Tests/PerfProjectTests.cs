using Xunit;

namespace LargeFolios.Perf.Tests;

public sealed class PerfProjectTests
{
    [Fact]
    public void ThePerfAssemblyLoads() => Assert.Equal("perf", typeof(ScalingRun).Assembly.GetName().Name);
}
