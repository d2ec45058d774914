using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.PageTables;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

public class ThpPolicyTests
{
    private const VmaFlags Plain = VmaFlags.Read | VmaFlags.Write | VmaFlags.Anonymous;
    private const VmaFlags Advised = Plain | VmaFlags.HugePage;

    private static uint Orders(params int[] orders) => orders.Aggregate(0u, (mask, order) => mask | (1u << order));

    [Fact]
    public void Defaults_are_the_kernels_global_madvise_pmd_inherit_the_rest_never()
    {
        var policy = new ThpPolicy();
        Assert.Equal(ThpEnabled.Madvise, policy.Enabled);
        Assert.Equal(ThpSizeEnabled.Inherit, policy.GetSizeEnabled(9));
        for (int order = 2; order < 9; order++)
            Assert.Equal(ThpSizeEnabled.Never, policy.GetSizeEnabled(order));
        Assert.Equal("always [madvise] never", policy.FormatEnabled());
        Assert.Equal("always [inherit] madvise never", policy.FormatSizeEnabled(9));
        Assert.Equal("always inherit madvise [never]", policy.FormatSizeEnabled(4));

        // So: 2 MiB THP for MADV_HUGEPAGE regions only.
        Assert.Equal(Orders(9), policy.AllowableOrders(Advised));
        Assert.Equal(0u, policy.AllowableOrders(Plain));
    }

    [Fact]
    public void Inherit_follows_the_global_setting()
    {
        var policy = new ThpPolicy { Enabled = ThpEnabled.Always };
        Assert.Equal(Orders(9), policy.AllowableOrders(Plain));
        Assert.Equal(Orders(9), policy.AllowableOrders(Advised));
        policy.Enabled = ThpEnabled.Never;
        Assert.Equal(0u, policy.AllowableOrders(Advised));
    }

    [Fact]
    public void An_always_size_applies_whatever_the_global_setting_and_madvise_needs_the_advice()
    {
        var policy = new ThpPolicy { Enabled = ThpEnabled.Never };
        policy.WriteSizeEnabled("64kB", "always");
        policy.WriteSizeEnabled("16kB", "madvise");
        Assert.Equal(Orders(4), policy.AllowableOrders(Plain));
        Assert.Equal(Orders(2, 4), policy.AllowableOrders(Advised));
        policy.Enabled = ThpEnabled.Madvise;
        Assert.Equal(Orders(2, 4, 9), policy.AllowableOrders(Advised));
    }

    [Fact]
    public void Nohugepage_disables_every_size_even_always()
    {
        var policy = new ThpPolicy { Enabled = ThpEnabled.Always };
        policy.SetSizeEnabled(3, ThpSizeEnabled.Always);
        Assert.Equal(0u, policy.AllowableOrders(Plain | VmaFlags.NoHugePage));
    }

    [Fact]
    public void Asking_for_some_orders_intersects_them()
    {
        var policy = new ThpPolicy { Enabled = ThpEnabled.Always };
        for (int order = 2; order <= 9; order++)
            policy.SetSizeEnabled(order, ThpSizeEnabled.Always);
        Assert.Equal(ThpPolicy.AllAnonOrders, policy.AllowableOrders(Plain));
        Assert.Equal(Orders(2, 3), policy.AllowableOrders(Plain, Orders(0, 1, 2, 3)));   // orders 0 and 1 are never THP orders
        Assert.Equal(ThpPolicy.AllAnonOrders, Orders(2, 3, 4, 5, 6, 7, 8, 9));
    }

    [Fact]
    public void A_store_moves_the_order_between_the_three_bitmaps()
    {
        var policy = new ThpPolicy();
        foreach (ThpSizeEnabled setting in Enum.GetValues<ThpSizeEnabled>())
        {
            policy.SetSizeEnabled(9, setting);
            Assert.Equal(setting, policy.GetSizeEnabled(9));
        }

        policy.WriteSizeEnabled("2048kB", "inherit");
        Assert.Equal("always [inherit] madvise never", policy.FormatSizeEnabled(9));
        policy.WriteEnabled(" always\n");          // sysfs_streq ignores the trailing newline echo writes
        Assert.Equal("[always] madvise never", policy.FormatEnabled());
    }

    [Theory]
    [InlineData("8kB", "order 1")]
    [InlineData("4kB", "16kB to 2048kB")]
    [InlineData("4096kB", "16kB to 2048kB")]
    [InlineData("48kB", "power of two")]
    [InlineData("64KB", "16kB to 2048kB")]
    [InlineData("kB", "16kB to 2048kB")]
    public void A_size_without_a_sysfs_directory_is_refused_and_changes_nothing(string size, string expected)
    {
        var policy = new ThpPolicy();
        var error = Assert.Throws<ArgumentException>(() => policy.WriteSizeEnabled(size, "always"));
        Assert.Contains(expected, error.Message);
        Assert.Contains(size, error.Message);
        Assert.Equal(0u, policy.AllowableOrders(Plain));
    }

    [Fact]
    public void Bad_settings_and_orders_are_refused()
    {
        var policy = new ThpPolicy();
        Assert.Contains("expected always, madvise or never", Assert.Throws<ArgumentException>(() => policy.WriteEnabled("inherit")).Message);
        Assert.Contains("expected always, inherit, madvise or never", Assert.Throws<ArgumentException>(() => policy.WriteSizeEnabled("64kB", "sometimes")).Message);
        Assert.Contains("order 1", Assert.Throws<ArgumentOutOfRangeException>(() => policy.SetSizeEnabled(1, ThpSizeEnabled.Always)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => policy.SetSizeEnabled(10, ThpSizeEnabled.Always));
        Assert.Throws<ArgumentOutOfRangeException>(() => policy.GetSizeEnabled(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => policy.Enabled = (ThpEnabled)7);
        Assert.Equal(ThpEnabled.Madvise, policy.Enabled);
        Assert.Equal(ThpSizeEnabled.Never, policy.GetSizeEnabled(4));
    }

    [Fact]
    public void Sizes_and_orders_name_each_other()
    {
        for (int order = 2; order <= 9; order++)
            Assert.Equal(order, ThpPolicy.OrderOfSize(ThpPolicy.SizeName(order)));
        Assert.Equal("16kB", ThpPolicy.SizeName(2));
        Assert.Equal("2048kB", ThpPolicy.SizeName(9));
    }

    [Fact]
    public async Task Faults_reading_while_stores_change_sizes_see_whole_bitmaps()
    {
        var policy = new ThpPolicy { Enabled = ThpEnabled.Always };
        using var stop = new CancellationTokenSource();
        Task writer = Task.Run(() =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
                policy.SetSizeEnabled(2 + (i % 8), (ThpSizeEnabled)(i % 4));
        });

        for (int i = 0; i < 200_000; i++)
        {
            uint orders = policy.AllowableOrders(Advised);
            Assert.Equal(0u, orders & ~ThpPolicy.AllAnonOrders);
        }

        await stop.CancelAsync();
        await writer;
        for (int order = 2; order <= 9; order++)
        {
            ThpSizeEnabled setting = policy.GetSizeEnabled(order);
            Assert.Equal(setting != ThpSizeEnabled.Never, (policy.AllowableOrders(Advised) & (1u << order)) != 0);
        }
    }
}
