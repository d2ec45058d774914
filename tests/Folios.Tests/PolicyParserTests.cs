using LargeFolios.FaultPath;
using LargeFolios.Folios.Policies;
using Xunit;

namespace LargeFolios.Folios.Tests;

public sealed class PolicyParserTests
{
    [Fact]
    public void Default_is_the_kernels_own_defaults()
    {
        PolicySettings policy = PolicyParser.Parse("default");
        var kernel = new ThpPolicy();

        Assert.Equal(kernel.Enabled, policy.Global);
        for (int order = 2; order <= 9; order++)
            Assert.Equal(kernel.GetSizeEnabled(order), policy.Sizes[order]);
        Assert.Equal("enabled=madvise, inherit 2048kB", policy.Describe());
    }

    [Theory]
    [InlineData("never", "enabled=never")]
    [InlineData("always", "enabled=always, inherit 2048kB")]
    [InlineData("all", "enabled=madvise, always 16kB..2048kB")]
    [InlineData("16K,64K", "enabled=madvise, always 16kB, 64kB")]
    [InlineData("64kB,2048kB", "enabled=madvise, always 64kB, 2048kB")]
    [InlineData("default,64K", "enabled=madvise, always 64kB, inherit 2048kB")]
    [InlineData("64K,2M=inherit,enabled=always", "enabled=always, always 64kB, inherit 2048kB")]
    [InlineData("never,16K=madvise", "enabled=never, madvise 16kB")]
    [InlineData("ALL, 2M = never", "enabled=madvise, always 16kB..1024kB")]
    public void Policies_read_as_sysfs_would_hold_them(string text, string sysfs)
    {
        PolicySettings policy = PolicyParser.Parse(text);

        Assert.Equal(sysfs, policy.Describe());
        Assert.Equal(text, policy.Name);
    }

    [Fact]
    public void Applied_to_a_machine_the_allowed_orders_follow()
    {
        var machine = new ThpPolicy();
        PolicyParser.Parse("16K,64K").ApplyTo(machine);

        Assert.Equal((1u << 2) | (1u << 4), machine.AllowableOrders(PageTables.VmaFlags.Read | PageTables.VmaFlags.Write));
        Assert.Equal("4kB, 16kB, 64kB", PolicyParser.Parse("16K,64K").DescribeAllowedSizes(PageTables.VmaFlags.Read | PageTables.VmaFlags.Write));
        Assert.Equal("4kB", PolicySettings.Default.DescribeAllowedSizes(PageTables.VmaFlags.Read | PageTables.VmaFlags.Write));
        Assert.Equal("4kB, 2048kB", PolicySettings.Default.DescribeAllowedSizes(PageTables.VmaFlags.Read | PageTables.VmaFlags.Write | PageTables.VmaFlags.HugePage));
    }

    [Theory]
    [InlineData("", "an item is empty")]
    [InlineData("16K,", "an item is empty")]
    [InlineData("4K", "\"4K\" is the base page (order 0)")]
    [InlineData("8K", "\"8K\" (order 1) has no THP setting")]
    [InlineData("48K", "\"48K\" is not a THP size")]
    [InlineData("4M", "\"4M\" is larger than a PMD (2M)")]
    [InlineData("64K,always", "\"always\" in policy \"64K,always\" names a whole policy")]
    [InlineData("enabled=inherit", "\"enabled=inherit\": expected enabled=always, enabled=madvise or enabled=never")]
    [InlineData("sometimes", "\"sometimes\" is not a policy, a size or a setting")]
    public void Bad_policies_are_refused_naming_the_bad_item(string text, string message)
    {
        Assert.False(PolicyParser.TryParse(text, out _, out string? error));
        Assert.Contains(message, error, System.StringComparison.Ordinal);
    }
}
