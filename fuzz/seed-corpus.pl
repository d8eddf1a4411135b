#!/usr/bin/env perl
# Writes seed inputs for the fuzz targets into CORPUS/<target>/ (created if needed):
# a few hand-made messages of every type, plus every message found under a `hex` key
# in VECTORS/*.toml (the captured FRR/BIRD vectors), if that directory exists.
#
#   perl fuzz/seed-corpus.pl fuzz/corpus bgp-core/tests/vectors
#
# Input layouts (see fuzz/src/lib.rs and the targets):
#   frame_len       [ctx][message]
#   decode_message  [ctx][type][body]        (marker and length are rebuilt)
#   decode_stream   [ctx][split][messages...]
#   bfd_packet      [BFD control packet], also read as [time step][24 octets]...
# ctx octet: bit 0 4-octet AS, bit 1 extended message, bit 2 eBGP, bits 4-7 ADD-PATH.
use strict;
use warnings;

my ($corpus, $vectors) = @ARGV;
die "usage: $0 CORPUS_DIR [VECTORS_DIR]\n" unless defined $corpus;

sub h { my $x = join '', @_; $x =~ s/[^0-9a-fA-F]//g; return pack 'H*', $x }
sub msg { my ($type, $body) = @_; return ("\xff" x 16) . pack('nC', 19 + length $body, $type) . $body }
sub attr {
    my ($flags, $code, $value) = @_;
    return (length($value) > 255 || $flags & 0x10) ? pack('CCn', $flags | 0x10, $code, length $value) . $value
                                : pack('CCC', $flags, $code, length $value) . $value;
}
sub update {
    my ($withdrawn, $attrs, $nlri) = @_;
    return msg(2, pack('n', length $withdrawn) . $withdrawn . pack('n', length $attrs) . $attrs . $nlri);
}

my $caps = join '', map { pack('CC', $_->[0], length $_->[1]) . $_->[1] } (
    [1, h('0001 00 01')], [1, h('0002 00 01')], [2, ''], [70, ''], [6, ''],
    [65, h('0000fde9')], [69, h('0001 01 03 0002 01 03')], [64, h('8078 0001 01 80')],
    [71, h('0001 01 80 000e10')], [73, h('02 7231 01 78')], [5, h('0001 0001 0002')], [128, h('abcd')],
);
my $open = msg(1, h('04 fde9 00b4 0a000001') . pack('CCC', length($caps) + 2, 2, length $caps) . $caps);
my $common4 = attr(0x40, 1, h('00')) . attr(0x40, 2, h('02 03 0000fde9 0000fdea 00030d40'));

my %seeds = (
    keepalive => [0x01, msg(4, '')],
    open => [0x01, $open],
    update_v4 => [0x01, update('', $common4 . attr(0x40, 3, h('0a000001')) . attr(0x80, 4, h('00000064'))
        . attr(0x40, 5, h('00000064')) . attr(0x40, 6, '') . attr(0xc0, 7, h('0000fde9 0a000001'))
        . attr(0xc0, 8, h('fde90001 ffffff01')) . attr(0x80, 9, h('0a000002')) . attr(0x80, 10, h('0a000003'))
        . attr(0xc0, 16, h('0002fde9 00000001')) . attr(0xc0, 32, h('0000fde9 00000001 00000002'))
        . attr(0xc0, 250, h('010203')), h('18 0a0100 20 c0a80101 00'))],
    update_v6 => [0x01, update('', attr(0x90, 15, h('0002 01 30 20010db80002'))
        . attr(0x90, 14, h('0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00'
            . '40 20010db800000000 30 20010db80001')) . $common4, '')],
    withdraw_v4 => [0x01, update(h('18 0a0200 10 ac10'), '', '')],
    update_2octet => [0x00, update('', attr(0x40, 1, h('00')) . attr(0x40, 2, h('02 02 fde9 5ba0'))
        . attr(0x40, 3, h('0a000001')) . attr(0xc0, 7, h('5ba0 0a000001'))
        . attr(0xc0, 17, h('02 02 0000fde9 00030d40')) . attr(0xc0, 18, h('00030d40 0a000001')), h('18 0a0400'))],
    update_addpath => [0x11, update(h('00000002 18 0a0500'), $common4 . attr(0x40, 3, h('0a000001')),
        h('00000001 18 0a0300 00000002 18 0a0300'))],
    eor_v4 => [0x01, update('', '', '')],
    eor_v6 => [0x01, update('', attr(0x80, 15, h('0002 01')), '')],
    notification => [0x01, msg(3, h('0602 05') . 'bye!!')],
    route_refresh => [0x01, msg(5, h('0001 00 01'))],
    borr => [0x01, msg(5, h('0002 01 01'))],
);

# Vectors: each `[[vector]]` table's `hex` is one whole message, with the session it
# came from in four_octet_as, extended_message, add_path_rx and external. It goes in
# under that context, and under a 2-octet and an all-ADD-PATH one to vary the parse.
my %family_bit = ('ipv4-unicast' => 1, 'ipv6-unicast' => 2, 'ipv4-multicast' => 4, 'ipv6-multicast' => 8);
my $n = 0;
if (defined $vectors && -d $vectors) {
    for my $file (sort glob("$vectors/*.toml")) {
        open my $fh, '<', $file or next;
        local $/;
        my $text = <$fh>;
        close $fh;
        for my $table (split /^\s*\[\[vector\]\]\s*$/m, $text) {
            next unless $table =~ /^\s*hex\s*=\s*("""|'''|"|')(.*?)\1/ms;
            my $bin = h($2);
            next if length $bin < 19;
            my $ctx = 0;
            $ctx |= 0x01 if $table =~ /^\s*four_octet_as\s*=\s*true/m;
            $ctx |= 0x02 if $table =~ /^\s*extended_message\s*=\s*true/m;
            $ctx |= 0x04 if $table =~ /^\s*external\s*=\s*true/m;
            if ($table =~ /^\s*add_path_rx\s*=\s*\[(.*?)\]/ms) {
                my $list = $1;
                $ctx |= ($family_bit{$1} // 0) << 4 while $list =~ /"([a-z0-9-]+)"/g;
            }
            $n++;
            $seeds{"vector${n}_c$_"} = [$_, $bin] for ($ctx, $ctx & 0x06, $ctx | 0xf0);
        }
    }
}

for my $t (qw(frame_len decode_message decode_stream)) { mkdir "$corpus"; mkdir "$corpus/$t" }
my %stream;
for my $name (sort keys %seeds) {
    my ($ctx, $m) = @{ $seeds{$name} };
    my $c = chr $ctx;
    write_file("$corpus/frame_len/seed-$name", $c . $m);
    write_file("$corpus/decode_message/seed-$name", $c . substr($m, 18, 1) . substr($m, 19));
    write_file("$corpus/decode_stream/seed-$name", $c . "\x80" . $m);
    $stream{$ctx} .= $m;
}
# One stream per context with all its messages back to back.
write_file(sprintf("$corpus/decode_stream/seed-all-%02x", $_), chr($_) . "\x80" . $stream{$_}) for keys %stream;
# BFD control packets (RFC 5880 §4.1): Down with Your Discriminator 0, Init, Up, Up with
# Poll, Up with Final, AdminDown; then a session's worth of them as 25-octet steps.
mkdir "$corpus/bfd_packet";
my @bfd = (
    h('20 40 03 18 00000001 00000000 000f4240 000f4240 00000000'),
    h('20 80 03 18 00000001 00000007 000f4240 000f4240 00000000'),
    h('20 c0 03 18 00000001 00000007 000493e0 000493e0 0000c350'),
    h('20 e0 03 18 00000001 00000007 000186a0 000186a0 00000000'),
    h('20 d0 03 18 00000001 00000007 000186a0 000186a0 00000000'),
    h('27 00 03 18 00000001 00000007 000f4240 000f4240 00000000'),
);
write_file("$corpus/bfd_packet/seed-bfd$_", $bfd[$_]) for 0 .. $#bfd;
write_file("$corpus/bfd_packet/seed-bfd-session", join '', map { "\x10" . $_ } @bfd);
printf "seeded %d messages (%d from vectors) into %s\n", scalar(keys %seeds), $n, $corpus;

sub write_file {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or die "$path: $!\n";
    print $fh $data;
    close $fh;
}
